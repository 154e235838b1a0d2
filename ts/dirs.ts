/**
 * Output paths: `ensureDir` creates a directory (with its parents) and `ensureFileDir` the
 * folder of an output file, turning the file-system errors a user can cause into an MdmtError
 * naming the setting — a directory path that is a file, or lies under one, or a file path that
 * is a directory, is a configuration error (exit 2), not a raw EEXIST / ENOTDIR / EISDIR found
 * after the work is done. `checkDir` and `checkFileDir` say the same before anything is made, for
 * a command that checks its outputs first and creates them only once its work succeeds.
 *
 *   ensureDir(cfg.outDir, 'train', 'config.outDir');  ensureFileDir(out, 'predict', '--out');
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from './errors';

/** `dir` when it exists, else the nearest of its parents that does (the root at the last). */
function nearestExisting(dir: string): string {
  let p = path.resolve(dir);
  while (!fs.existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  return p;
}

/** The first existing component of `dir` when it is a file (mkdir would fail with EEXIST or ENOTDIR). */
function fileInTheWay(dir: string): string | undefined {
  const p = nearestExisting(dir);
  return fs.existsSync(p) && !fs.statSync(p).isDirectory() ? p : undefined;
}

/**
 * Why creating `dir` failed: a recursive mkdir says ENOENT where a read-only file system or a
 * permission stops it, so the first missing folder is created alone to hear the real reason.
 */
function whyNot(dir: string, e: unknown): string {
  const first = (e as NodeJS.ErrnoException).code === 'ENOENT' ? missingFrom(dir) : undefined;
  if (first) {
    try {
      fs.mkdirSync(first);
    } catch (e2) {
      return (e2 as Error).message;
    }
  }
  return (e as Error).message;
}

/** The first folder of `dir` that does not exist, under one that does. */
function missingFrom(dir: string): string | undefined {
  let p = path.resolve(dir);
  if (fs.existsSync(p)) return undefined;
  while (!fs.existsSync(path.dirname(p)) && path.dirname(p) !== p) p = path.dirname(p);
  return p;
}

/**
 * `fs.mkdirSync(dir, { recursive: true })` without its endless loop: Node 20's recursive mkdir
 * spins forever, ignoring SIGTERM, when a parent exists but refuses new entries with ENOENT (a
 * path under /proc or /sys). The missing folders are made one at a time, top down, so such a
 * parent ends in the file system's own error. Returns nothing; throws the raw fs error.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); !fs.existsSync(p); p = path.dirname(p)) {
    missing.push(p);
    if (path.dirname(p) === p) break;
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m);
    } catch (e) {
      // made meanwhile by another process (two runs sharing a cache folder): that is what was asked
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(m).isDirectory()) throw e;
    }
  }
}

/** Creates `dir` and checks that this process may write in it (a read-only mount, a folder of another user). */
function mkdir(dir: string, op: string, field: string, shown: string): void {
  try {
    makeDirs(dir);
  } catch (e) {
    throw new MdmtError('EIO', op, `${field} '${shown}': cannot create the directory (${whyNot(dir, e)})`);
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);  // files are made in it: write and search
  } catch (e) {
    // said now, not as a raw EROFS naming a temporary file once the data is read
    throw new MdmtError('EIO', op, `${field} '${shown}': cannot write in the directory (${(e as Error).message})`);
  }
}

/** The first existing folder of `dir` (itself when it exists), when this process cannot make files in it. */
function unwritableAncestor(dir: string): { dir: string; why: string } | undefined {
  const p = nearestExisting(dir);
  try {
    fs.accessSync(p, fs.constants.W_OK | fs.constants.X_OK);
    return undefined;
  } catch (e) {
    return { dir: p, why: (e as Error).message };
  }
}

/** Refuses (ECONFIG, naming `field`) a directory path that is a file or lies under one. */
function refuseDirPath(dir: string, op: string, field: string): void {
  const p = fileInTheWay(dir);
  if (p) throw new MdmtError('ECONFIG', op, `${field} '${dir}' ${p === path.resolve(dir) ? 'is a file' : `lies under '${p}', which is a file`}, not a directory`);
}

/** ensureDir's checks, nothing created: a file in the way (ECONFIG), a folder this process cannot write in (EIO). */
export function checkDir(dir: string, op: string, field: string): string {
  refuseDirPath(dir, op, field);
  const u = unwritableAncestor(dir);
  if (u) throw new MdmtError('EIO', op, `${field} '${dir}': cannot write in ${u.dir === path.resolve(dir) ? 'the directory' : `'${u.dir}'`} (${u.why})`);
  return dir;
}

/** Creates `dir` (recursively) and returns it; refuses a file in the way, naming `field`. */
export function ensureDir(dir: string, op: string, field: string): string {
  refuseDirPath(dir, op, field);
  mkdir(dir, op, field, dir);
  return dir;
}

/** Refuses (ECONFIG, naming `field`) a directory where the output file `file` would go, or a file among its folders. */
function refuseFilePath(file: string, op: string, field: string): void {
  const abs = path.resolve(file);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new MdmtError('ECONFIG', op, `${field} '${file}' is a directory, not a file`);
  const p = fileInTheWay(path.dirname(abs));
  if (p) throw new MdmtError('ECONFIG', op, `${field} '${file}' lies under '${p}', which is a file, not a directory`);
}

/** ensureFileDir's checks, nothing created: a directory at `file` or a file among its folders (ECONFIG), a folder this process cannot write in (EIO). */
export function checkFileDir(file: string, op: string, field: string): string {
  refuseFilePath(file, op, field);
  const u = unwritableAncestor(path.dirname(path.resolve(file)));
  if (u) throw new MdmtError('EIO', op, `${field} '${file}': cannot write in '${u.dir}' (${u.why})`);
  return file;
}

/**
 * Creates the folder of the output file `file` and returns `file`; refuses (naming `field`) a
 * directory where the file would go, or a file among its folders.
 */
export function ensureFileDir(file: string, op: string, field: string): string {
  refuseFilePath(file, op, field);
  mkdir(path.dirname(path.resolve(file)), op, field, file);
  return file;
}

/** A file's name without its folder and last extension: 'a/P_17.dcm' -> 'P_17', 'x.tar.gz' -> 'x.tar'. */
export const fileStem = (f: string): string => path.basename(f).replace(/\.[^.]*$/, '');

/**
 * Whether two paths name one file: the same path, or (a link, another spelling of it, a
 * case-blind file system) the same device and inode. An output path is compared with the
 * files it must not overwrite.
 *
 *   sameFile('runs/x/./config.json', 'runs/x/config.json') === true
 */
export function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  const id = (f: string) => {
    try {
      const st = fs.statSync(f);
      return `${st.dev}:${st.ino}`;
    } catch {
      return undefined; // not there (or under a file: ENOTDIR, which ensureFileDir names): nothing to overwrite
    }
  };
  const x = id(a);
  return x !== undefined && x === id(b);
}
