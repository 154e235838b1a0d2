// Output folders that cannot be written are said before any work, naming the setting and the
// real reason: a recursive mkdir on a read-only mount says ENOENT (the folder above exists),
// and an existing read-only folder failed later, as a raw EROFS naming a temporary file (the
// run's lock, an image-cache file) once the data had been read.
import * as fs from 'fs';
import nodeFs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import { checkDir, checkFileDir, ensureDir, ensureFileDir, makeDirs } from '../../ts/dirs';
import { throwsNaming } from '../helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-dirs-'));
const errno = (code: string, text: string, p: string) => Object.assign(new Error(`${code}: ${text}, ${p}`), { code });

/** Runs `fn` with fs[name] replaced (the modules read fs's properties when they call them). */
function patched<K extends 'mkdirSync' | 'accessSync'>(name: K, fake: (real: typeof fs[K]) => typeof fs[K], fn: () => void): void {
  const real = nodeFs[name];
  (nodeFs as unknown as Record<string, unknown>)[name] = fake(real);
  try {
    fn();
  } finally {
    (nodeFs as unknown as Record<string, unknown>)[name] = real;
  }
}

test('a folder a read-only file system stops is named with EROFS, not the ENOENT of the recursive mkdir', () => {
  const ro = path.join(dir, 'ro', 'runs');
  // what Node does on a read-only mount: the recursive call says ENOENT, the plain one EROFS
  patched('mkdirSync', (real) => ((p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
    if (String(p).startsWith(path.join(dir, 'ro'))) throw o?.recursive ? errno('ENOENT', 'no such file or directory', String(p)) : errno('EROFS', 'read-only file system', String(p));
    return real(p, o);
  }) as typeof fs.mkdirSync, () => {
    throwsNaming(() => ensureDir(ro, 'train', 'config.outDir'), `config.outDir '${ro}': cannot create the directory (EROFS: read-only file system`);
  });
});

test('checkDir and checkFileDir refuse what ensureDir and ensureFileDir would, and make nothing', () => {
  const base = path.join(dir, 'check');
  fs.mkdirSync(base);
  fs.writeFileSync(path.join(base, 'f'), 'x');
  assert.is(checkDir(path.join(base, 'a', 'b'), 'predict', 'explain.dir'), path.join(base, 'a', 'b'));
  assert.is(checkFileDir(path.join(base, 'c', 'p.csv'), 'predict', '--out'), path.join(base, 'c', 'p.csv'));
  assert.equal(fs.readdirSync(base), ['f'], 'nothing made');
  throwsNaming(() => checkDir(path.join(base, 'f', 'sub'), 'predict', '--heatmaps'), `--heatmaps '${path.join(base, 'f', 'sub')}' lies under '${path.join(base, 'f')}', which is a file`);
  throwsNaming(() => checkFileDir(base, 'predict', '--out'), `--out '${base}' is a directory, not a file`);
  throwsNaming(() => checkFileDir(path.join(base, 'f', 'p.csv'), 'predict', '--out'), `lies under '${path.join(base, 'f')}', which is a file`);
  // the nearest folder that exists must be writable: said now, not after the work
  patched('accessSync', (real) => ((p: fs.PathLike, mode?: number) => {
    if (path.resolve(String(p)) === base && mode !== undefined && (mode & fs.constants.W_OK) !== 0) throw errno('EROFS', 'read-only file system', String(p));
    return real(p, mode);
  }) as typeof fs.accessSync, () => {
    throwsNaming(() => checkDir(path.join(base, 'x', 'y'), 'predict', '--heatmaps'), `--heatmaps '${path.join(base, 'x', 'y')}': cannot write in '${base}' (EROFS`);
    throwsNaming(() => checkFileDir(path.join(base, 'x', 'p.csv'), 'predict', '--out'), `cannot write in '${base}' (EROFS`);
  });
});

test('an existing folder this process cannot write in is refused now, naming the setting', () => {
  const out = path.join(dir, 'mounted');
  fs.mkdirSync(out);
  patched('accessSync', (real) => ((p: fs.PathLike, mode?: number) => {
    if (path.resolve(String(p)) === out && mode !== undefined && (mode & fs.constants.W_OK) !== 0) throw errno('EROFS', 'read-only file system', String(p));
    return real(p, mode);
  }) as typeof fs.accessSync, () => {
    throwsNaming(() => ensureDir(out, 'Loader', 'cacheDir'), `cacheDir '${out}': cannot write in the directory (EROFS`);
    throwsNaming(() => ensureFileDir(path.join(out, 'p.csv'), 'predict', '--out'), '--out', 'cannot write in the directory');
  });
  assert.is(ensureDir(out, 'train', 'config.outDir'), out, 'writable: returned');
  // the real thing, where permissions bind (not as root)
  if (process.getuid?.() !== 0) {
    fs.chmodSync(out, 0o555);
    try {
      throwsNaming(() => ensureDir(out, 'train', 'config.outDir'), 'cannot write in the directory (EACCES');
      throwsNaming(() => ensureDir(path.join(out, 'sub'), 'train', 'config.outDir'), 'cannot create the directory (EACCES');
    } finally {
      fs.chmodSync(out, 0o755);
    }
    // writable but not searchable: no file can be made in it
    fs.chmodSync(out, 0o666);
    try {
      throwsNaming(() => ensureDir(out, 'train', 'config.outDir'), 'cannot write in the directory (EACCES');
    } finally {
      fs.chmodSync(out, 0o755);
    }
  }
});

test('makeDirs makes nested folders, accepts existing ones and refuses a file in the way', () => {
  const deep = path.join(dir, 'make', 'a', 'b', 'c');
  makeDirs(deep);
  assert.ok(fs.statSync(deep).isDirectory());
  makeDirs(deep);  // already there: nothing to do
  makeDirs(path.join(dir, 'make', 'a'));
  fs.writeFileSync(path.join(dir, 'make', 'file'), 'x');
  assert.throws(() => makeDirs(path.join(dir, 'make', 'file', 'sub')), /ENOTDIR|EEXIST/);
});

// Node 20's recursive mkdir spins forever (100 % CPU, SIGTERM ignored) under /proc, where the
// parent exists but a new entry is ENOENT: `mdmt synth --out /proc/x` never returned. Run in a
// child with a timeout, so a return of the loop fails this test instead of hanging the suite.
test('a folder under /proc is an error naming the setting, not an endless loop', () => {
  if (process.platform !== 'linux' || !fs.existsSync('/proc/self')) {
    console.log('  skipped: no /proc on this system');
    return;
  }
  const code = `try { require(${JSON.stringify(path.resolve(__dirname, '../../ts/dirs.js'))}).ensureDir('/proc/mdmt-no/such', 'synth', 'out'); console.log('made'); }
    catch (e) { console.log(e.message); }`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  assert.is(r.signal, null, 'ensureDir under /proc did not return within 30 s');
  assert.match(r.stdout, "out '/proc/mdmt-no/such': cannot create the directory (");
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
