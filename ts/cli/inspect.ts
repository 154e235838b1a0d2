/**
 * `mdmt inspect <file>`: decodes one image (DICOM or PNG/JPEG/TIFF/WebP, by its content) and
 * prints its format, size, photometric interpretation, bits, transfer syntax, display window and
 * LUT sequences (reported, not applied) and min/max after decoding; a weights file
 * (.safetensors, .onnx) is described instead (inspect_weights.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { checkRadiograph } from '../data/gray';
import type { DicomInfo } from '../data/dicom';
import { decodeImageFile, isRasterFile } from '../data/image';
import { inspectWeights, isWeightsFile } from './inspect_weights';

/** The extensions that name each raster format (a DICOM may have any other, or none). */
const EXTENSIONS: Record<string, string[]> = { PNG: ['.png'], JPEG: ['.jpg', '.jpeg'], TIFF: ['.tif', '.tiff'], WebP: ['.webp'] };

function minMax(d: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of d) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

const NOT_APPLIED = 'not applied: mdmt clips to the 2nd–98th percentile, as the paper\'s pipeline';

/**
 * The display window(s) and LUT sequences of a DICOM, each pair of WindowCenter / WindowWidth
 * values as one window, with the explanation's name; none when the file has neither.
 *
 *   displayLines(info) // ['window:      center 40, width 400 (LUNG) (not applied: …)']
 */
function displayLines(i: DicomInfo): string[] {
  const out: string[] = [];
  if (i.window) {
    const [c, w, x] = [i.window.center, i.window.width, i.window.explanation ?? ''].map((t) => t.split('\\').map((v) => v.trim()));
    const n = Math.max(c.length, w.length);
    const each = Array.from({ length: n }, (_, k) => `center ${c[k] || '?'}, width ${w[k] || '?'}${x[k] ? ` (${x[k]})` : ''}`);
    out.push(`window:      ${each.join('; ')} (${NOT_APPLIED})`);
  }
  const luts = [i.modalityLut && 'Modality LUT Sequence', i.voiLut && 'VOI LUT Sequence'].filter(Boolean);
  if (luts.length) out.push(`LUT:         ${luts.join(', ')} present (${NOT_APPLIED}${i.modalityLut ? '; RescaleSlope/Intercept are applied' : ''})`);
  return out;
}

/** Returns the lines `mdmt inspect` prints for one file. */
export async function inspectFile(file: string): Promise<string[]> {
  // name the file and what is wrong with it here: the decoders would report a missing path as
  // an unreadable image under their own op (decodeDicom), which says nothing about the cause
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : 'cannot be read';
    throw new MdmtError('EIO', 'inspect', `'${file}' ${why} (${code})`);
  }
  if (st.isDirectory()) throw new MdmtError('EIO', 'inspect', `'${file}' is a directory, not an image file (EISDIR)`);
  if (isWeightsFile(file)) return inspectWeights(file);
  const d = await decodeImageFile(file);
  const [lo, hi] = minMax(d.image.data);
  // a file decoded as another format than its name says (a PNG saved as .dcm) is worth a word
  const ext = path.extname(file).toLowerCase();
  const other = d.format === 'DICOM' ? isRasterFile(file) : !EXTENSIONS[d.format].includes(ext);
  const format = `format:      ${d.format}${other ? ` (by its content; the file is named ${ext || 'without extension'})` : ''}`;
  // what train and predict refuse as an X-ray (readImage role 'image'), said here too: a 10x10 PNG
  // inspected clean, then failed its predict row
  let refused: string[] = [];
  try {
    checkRadiograph(d.image, file, 'inspect', d.format === 'DICOM');
  } catch (e) {
    refused = [`note:        train and predict refuse it as an X-ray (it may serve as a lung mask): ${(e as Error).message.replace(`inspect: ${file}: `, '')}`];
  }
  if (d.format !== 'DICOM') return [`file:        ${file}`, format, `size:        ${d.image.width} x ${d.image.height}`, `min/max:     ${lo} / ${hi}`, ...refused];
  const img = d.image;
  const i = img.info;
  return [
    `file:        ${file}`,
    format,
    `size:        ${img.width} x ${img.height}`,
    `photometric: ${i.photometric}${i.inverted ? ' (inverted on decode)' : ''}`,
    `bits:        ${i.bitsStored} stored / ${i.bitsAllocated} allocated${i.signed ? ', signed' : ''}`,
    `transfer:    ${i.transferSyntax} (${i.transferSyntaxName})${i.hasPreamble ? '' : ', no preamble/file meta'}`,
    `rescale:     slope ${i.slope}, intercept ${i.intercept}`,
    ...(i.modality || i.manufacturer ? [`device:      ${[i.modality, i.manufacturer].filter(Boolean).join(', ')}`] : []),
    ...displayLines(i),
    `min/max:     ${lo} / ${hi}`,
    ...refused,
  ];
}
