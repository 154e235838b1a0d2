/**
 * Output directories: `ensureDir` creates one (with its parents) and turns the file-system
 * errors a user can cause into an MdmtError naming the setting — a path that is a file, or
 * lies under one, is a configuration error (exit 2), not a raw EEXIST / ENOTDIR.
 *
 *   ensureDir(cfg.outDir, 'train', 'config.outDir');
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from './errors';

/** Creates `dir` (recursively) and returns it; refuses a file in the way, naming `field`. */
export function ensureDir(dir: string, op: string, field: string): string {
  // the first existing path component decides: a file there makes mkdir fail with EEXIST or ENOTDIR
  let p = path.resolve(dir);
  while (!fs.existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory())
    throw new MdmtError('ECONFIG', op, `${field} '${dir}' ${p === path.resolve(dir) ? 'is a file' : `lies under '${p}', which is a file`}, not a directory`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new MdmtError('EIO', op, `${field} '${dir}': cannot create the directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return dir;
}
