/**
 * The images a prediction runs on: files as given, folders walked recursively for the image
 * formats mdmt reads (DICOM by extension or by its DICM preamble, PNG, JPEG, TIFF, WebP),
 * and the lung mask of each image from a mask folder (same base name, any image extension).
 *
 *   const inputs = collectImages(['scans/', 'one.dcm'], { masks: 'scans_masks/' });
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError, show } from '../errors';
import { fileStem } from '../dirs';
import type { PredictInput } from './options';

const EXTENSIONS = new Set(['.dcm', '.dicom', '.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp']);

/** True for a DICOM file without extension: "DICM" at byte 128. */
function hasDicmPreamble(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(4);
    return fs.readSync(fd, b, 0, 4, 128) === 4 && b.toString('latin1') === 'DICM';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The images under `dir` into `out`; every other entry but hidden ones (.DS_Store) into
 * `skipped`, relative to `root`: another extension, a broken or looping link, a linked folder
 * (not followed: it may loop). A link to an image file counts as the image.
 */
function walk(dir: string, out: string[], skipped: string[], root = dir): void {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name), rel = path.relative(root, p);
    const link = e.isSymbolicLink();
    // a link that loops (a → b → a) or cannot be followed is skipped like a broken one: its ELOOP
    // stopped the whole walk, and a mask folder holding one failed every image of the call
    let st: fs.Stats | fs.Dirent | undefined = e, why = 'broken link';
    try {
      if (link) st = fs.statSync(p, { throwIfNoEntry: false });
    } catch (err) {
      st = undefined;
      why = (err as NodeJS.ErrnoException).code === 'ELOOP' ? 'link loop' : `link not followed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    if (!st) skipped.push(`${rel} (${why})`);
    else if (st.isDirectory()) {
      if (link) skipped.push(`${rel} (linked folder, not followed)`);
      else walk(p, out, skipped, root);
    } else if (st.isFile() && (EXTENSIONS.has(path.extname(e.name).toLowerCase()) || (!path.extname(e.name) && hasDicmPreamble(p)))) out.push(p);
    else skipped.push(rel);
  }
}

/** 'a.gif, notes.txt, … (12 in all)' */
function listSome(names: readonly string[], most = 5): string {
  return names.length <= most ? names.join(', ') : `${names.slice(0, most).join(', ')}, … (${names.length} in all)`;
}

/** Mask files of a folder (and its subfolders) by base name (without extension): every file of a name. */
function maskIndex(dir: string): Map<string, string[]> {
  if (!fs.existsSync(dir)) throw new MdmtError('EIO', 'predict', `mask folder '${dir}' does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new MdmtError('EIO', 'predict', `mask folder '${dir}' is a file, not a folder (masks are found by the images' base names in a folder)`);
  const files: string[] = [];
  walk(dir, files, []);
  const index = new Map<string, string[]>();
  for (const f of files) {
    const same = index.get(fileStem(f));
    if (same) same.push(f);
    else index.set(fileStem(f), [f]);
  }
  return index;
}

/**
 * The mask of `image`: the one file of its base name under the mask folder. Two (x.png and
 * x.tif, or a/x.png and b/x.png) are refused naming both: the last one found was used without
 * a word, and which is the lung mask of x is not ours to guess.
 */
function maskOf(image: string, masks: Map<string, string[]>, dir: string): string | undefined {
  const found = masks.get(fileStem(image));
  // --masks the images' own folder: an image without a mask of its name there was its own lung
  // mask (cropped to its non-zero pixels, with no 'no lung mask' note), one with a mask was refused as two files sharing a name
  const real = (f: string) => { try { return fs.realpathSync(f); } catch { return path.resolve(f); } };
  if (found?.some((f) => real(f) === real(image)))
    throw new MdmtError('EDATA', 'predict', `${image}: the mask folder '${dir}' holds this image itself, so it would be its own lung mask (the mask of an image is the file of its base name there): give masks (--masks) a folder of lung masks only, apart from the images`);
  if (found && found.length > 1)
    throw new MdmtError('EDATA', 'predict', `${image}: ${found.length} files in the mask folder '${dir}' share its name ${show(fileStem(image))}: ${found.map((f) => path.relative(dir, f)).join(', ')}; keep one, or move the others out of the folder`);
  return found?.[0];
}

/**
 * Expands files and folders into inputs, in the order given (folders sorted by name), each
 * file once. A path that does not exist is kept: its row will carry the error. A folder
 * without any image is an error naming it; the other entries a folder holds (another
 * extension, a broken link) are counted and named through `log`, not dropped silently.
 *
 * @example collectImages(['../shared/data/covid-cxr/images']).length // 269
 */
export function collectImages(paths: readonly string[], o: { masks?: string; log?: (msg: string) => void } = {}): PredictInput[] {
  // a bare string would be walked character by character ('/' is the whole file system)
  const given: unknown = paths;
  if (!Array.isArray(given) || given.some((p) => typeof p !== 'string' || !p))
    throw new MdmtError('EINVAL', 'collectImages', `the images must be an array of file or folder paths, got ${typeof given === 'string' ? `the string ${show(given)} (write [${show(given)}])` : show(given)}`);
  const files: string[] = [];
  for (const p of paths) {
    const abs = path.resolve(p);
    if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) {
      const before = files.length, skipped: string[] = [];
      walk(abs, files, skipped);
      const also = skipped.length ? `; skipped ${skipped.length}: ${listSome(skipped)}` : '';
      if (files.length === before) throw new MdmtError('EIO', 'predict', `folder '${p}' holds no image (${[...EXTENSIONS].join(' ')} or DICOM without extension)${also}`);
      if (skipped.length) o.log?.(`skipped ${skipped.length} file${skipped.length > 1 ? 's' : ''} in ${p} (not images mdmt reads): ${listSome(skipped)}`);
    } else files.push(abs);
  }
  const maskDir = o.masks ? path.resolve(o.masks) : undefined;
  const masks = maskDir ? maskIndex(maskDir) : undefined;
  return [...new Set(files)].map((image) => {
    const mask = masks && maskOf(image, masks, maskDir!);
    return mask ? { image, mask } : { image };
  });
}
