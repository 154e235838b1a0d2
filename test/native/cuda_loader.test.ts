/**
 * The CUDA backend on a machine without a GPU (CI): compiled in, with no cuDNN, cuBLAS or
 * CUDA runtime among the addon's link dependencies and its kernels embedded; "no device"
 * reported with the reason and every CUDA entry throwing EDEVICE. And the run-time loader of
 * cuDNN / cuBLAS / cuBLASLt (native/cuda/dynload) driven with fake libraries compiled here
 * from the symbol lists of dynload/*_api.h: found (version, path) from $MDMT_CUDA_LIB_DIR and
 * from a pip layout beside a python3 on PATH; missing with every place looked at; a candidate
 * lacking a symbol or of another major version named and passed over. Loader runs happen in
 * child processes: the loader searches once per process.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addonPath, native, packageRoot } from '../../ts/native/binding';
import type { DeviceInfo } from '../../ts/devices';

const n = native();
const cudaEntry = () => n.devices().find((d) => d.type === 'cuda')!;
const onPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = (what: string, why: string) => console.log(`  [skip] ${what}: ${why}`);

/** Exported symbol names of one X-macro table in a dynload header. */
function symbols(header: string, table: string): string[] {
  const lines = fs.readFileSync(path.join(packageRoot(), 'native/cuda/dynload', header), 'utf8').split('\n');
  let i = lines.findIndex((l) => l.startsWith(`#define ${table}(X)`));
  assert.ok(i >= 0, `${table} not in ${header}`);
  let body = '';
  while (lines[i].trimEnd().endsWith('\\')) body += lines[i++] + '\n';
  const syms = [...body.matchAll(/X\([^,]+,\s*\w+,\s*(\w+),/g)].map((m) => m[1]);
  assert.ok(syms.length >= 5, `${table}: ${syms.length} symbols parsed`);
  return syms;
}

/** Compiles a shared library `dir/file` exporting `syms` (returning 0) plus `bodies`. */
function fakeLib(dir: string, file: string, syms: string[], bodies: Record<string, string> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const src = path.join(dir, `${file}.cc`);
  const fns = syms.filter((s) => !(s in bodies)).map((s) => `int ${s}() { return 0; }`);
  fs.writeFileSync(src, `extern "C" {\n${[...fns, ...Object.values(bodies)].join('\n')}\n}\n`);
  const r = spawnSync('g++', ['-shared', '-fPIC', '-o', path.join(dir, file), src, `-Wl,-soname,${file}`], { encoding: 'utf8' });
  assert.is(r.status, 0, `g++ ${file}: ${r.stderr}`);
}

const CUDNN = symbols('cudnn_api.h', 'MDMT_CUDNN_API');
const CUBLAS = symbols('cublas_api.h', 'MDMT_CUBLAS_API');
const CUBLASLT = symbols('cublas_api.h', 'MDMT_CUBLASLT_API');
const cudnnVersion = (v: number) => ({ cudnnGetVersion: `unsigned long cudnnGetVersion() { return ${v}; }` });
const CUBLAS_13_1_2 = { cublasGetProperty: 'int cublasGetProperty(int t, int* v) { *v = t == 0 ? 13 : t == 1 ? 1 : 2; return 0; }' };
const CUBLASLT_13_1_2 = { cublasLtGetVersion: 'unsigned long cublasLtGetVersion() { return 130102; }' };

/** A complete fake set (cuDNN 9.14.0, cuBLAS / cuBLASLt 13.1.2) in `dir` (cuDNN in `dnnDir`). */
function fakeSet(dir: string, dnnDir = dir): void {
  fakeLib(dnnDir, 'libcudnn.so.9', CUDNN, cudnnVersion(91400));
  fakeLib(dir, 'libcublasLt.so.13', CUBLASLT, CUBLASLT_13_1_2);
  fakeLib(dir, 'libcublas.so.13', CUBLAS, CUBLAS_13_1_2);
}

/** devices() and the doctor's lines in a fresh process with `env` added. */
function child(env: Record<string, string | undefined>): { devs: DeviceInfo[]; doctor: string } {
  const dist = path.resolve(__dirname, '../../ts');
  const script = `const d = require(${JSON.stringify(path.join(dist, 'devices.js'))}).devices();
    const doc = require(${JSON.stringify(path.join(dist, 'cli/doctor.js'))}).diagnose().lines.join('\\n');
    process.stdout.write(JSON.stringify({ devs: d, doctor: doc }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, MDMT_ADDON: addonPath(), ...env } });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { devs: DeviceInfo[]; doctor: string };
}
const lib = (devs: DeviceInfo[], name: string) => devs.find((d) => d.type === 'cuda')!.libraries!.find((l) => l.name === name)!;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-loader-'));
const canFake = n.cudaCompiled && onPath('g++');
const whyNot = !n.cudaCompiled ? 'this addon has no CUDA backend' : 'no g++ to compile fake libraries';
const noLibsHere = () => cudaEntry().props.cudnn === 'missing' && cudaEntry().props.cublas === 'missing';

test('the CUDA backend is compiled in when the build asked for it (MDMT_CUDA=ON, as in CI)', () => {
  if (process.env.MDMT_CUDA?.toUpperCase() === 'ON') assert.ok(n.cudaCompiled, 'MDMT_CUDA=ON but cudaCompiled is false');
  else console.log(`  [note] MDMT_CUDA=${process.env.MDMT_CUDA ?? '(unset)'}: CUDA backend ${n.cudaCompiled ? 'compiled in' : 'absent'}`);
});

test('the addon links no cuDNN, cuBLAS, CUDA runtime or driver, and carries the kernels', () => {
  if (!onPath('ldd')) return skip('ldd check', 'no ldd');
  const ldd = spawnSync('ldd', [addonPath()], { encoding: 'utf8' }).stdout;
  assert.ok(ldd.includes('libc.so'), `ldd output: ${ldd}`);
  assert.not.match(ldd, /lib(cudnn|cublas|cublasLt|cudart|cuda)[._]/);
  if (!n.cudaCompiled) return;
  assert.match(cudaEntry().props.build, /^CUDA runtime \d+\.\d+ \(static\), kernels .*sm_\d+/);
  if (!onPath('readelf')) return skip('fatbin check', 'no readelf');
  const sec = /\.nv_fatbin\s+PROGBITS\s+\w+\s+\w+\s+(\w+)/.exec(spawnSync('readelf', ['-SW', addonPath()], { encoding: 'utf8' }).stdout);
  assert.ok(sec && parseInt(sec[1], 16) > 100_000, 'no .nv_fatbin section with the compiled kernels');
});

test('no GPU: devices() says why and every CUDA entry throws EDEVICE naming the missing piece', () => {
  const d = cudaEntry();
  if (!n.cudaCompiled) return skip('no-device report', 'no CUDA backend');
  if (d.props.driver !== 'none') return skip('no-device report', `this machine has an NVIDIA driver (CUDA ${d.props.driver})`);
  assert.is(d.available, false);
  assert.match(d.reason ?? '', /^no NVIDIA driver: libcuda\.so\.1 cannot be loaded/);
  for (const [what, fn] of [['alloc', () => n.alloc([2], 'float32', 'cuda')], ['sync', () => n.sync('cuda:0')]] as const) {
    let err: { code?: string; message?: string } = {};
    try {
      fn();
    } catch (e) {
      err = e as typeof err;
    }
    assert.is(err.code, 'EDEVICE', `${what}: ${err.message}`);
    assert.match(err.message ?? '', /no CUDA device is available: no NVIDIA driver/);
  }
  assert.is(n.memStats('cuda:0').liveBytes, 0);
  const id = n.alloc([3], 'float32', 'cpu');  // the CPU goes on working
  n.free(id);
});

test('loader: fake cuDNN 9 / cuBLAS 13 in MDMT_CUDA_LIB_DIR are found with version and path', () => {
  if (!canFake) return skip('loader', whyNot);
  const dir = path.join(tmp, 'good');
  fakeSet(dir);
  const { devs, doctor } = child({ MDMT_CUDA_LIB_DIR: dir, LD_LIBRARY_PATH: '' });
  assert.equal(lib(devs, 'cudnn'), { name: 'cudnn', found: true, version: '9.14.0', path: path.join(dir, 'libcudnn.so.9'), searched: [] });
  assert.equal(lib(devs, 'cublas'), { name: 'cublas', found: true, version: '13.1.2', path: path.join(dir, 'libcublas.so.13'), searched: [] });
  assert.equal(lib(devs, 'cublasLt'), { name: 'cublasLt', found: true, version: '13.1.2', path: path.join(dir, 'libcublasLt.so.13'), searched: [] });
  assert.not.match(devs.find((d) => d.type === 'cuda')!.reason ?? '', /cuDNN|cuBLAS/);
  assert.ok(doctor.includes(`  cudnn     9.14.0  ${path.join(dir, 'libcudnn.so.9')}`), doctor);
});

test('loader: the pip layout beside a python3 on PATH (site-packages/nvidia/{cudnn,cu13}/lib)', () => {
  if (!canFake) return skip('loader pip', whyNot);
  if (!noLibsHere()) return skip('loader pip', 'this machine has cuDNN/cuBLAS of its own, found first');
  const venv = path.join(tmp, 'venv');
  fs.mkdirSync(path.join(venv, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(venv, 'bin', 'python3'), '');  // found on PATH, never run
  const nv = path.join(venv, 'lib', 'python3.12', 'site-packages', 'nvidia');
  fakeSet(path.join(nv, 'cu13', 'lib'), path.join(nv, 'cudnn', 'lib'));
  const { devs } = child({ PATH: `${path.join(venv, 'bin')}:${process.env.PATH}`, LD_LIBRARY_PATH: '', MDMT_CUDA_LIB_DIR: '', VIRTUAL_ENV: '' });
  const real = fs.realpathSync(nv);
  assert.is(lib(devs, 'cudnn').path, path.join(real, 'cudnn', 'lib', 'libcudnn.so.9'));
  assert.is(lib(devs, 'cublas').path, path.join(real, 'cu13', 'lib', 'libcublas.so.13'));
});

test('loader: missing libraries name every place looked at; bad candidates are named and passed over', () => {
  if (!canFake) return skip('loader missing', whyNot);
  if (!noLibsHere()) return skip('loader missing', 'this machine has cuDNN/cuBLAS of its own');
  const bad1 = path.join(tmp, 'bad-symbol'), bad2 = path.join(tmp, 'bad-version'), empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  fakeLib(bad1, 'libcudnn.so.9', CUDNN.filter((s) => s !== 'cudnnConvolutionBackwardFilter'), cudnnVersion(91400));
  fakeLib(bad2, 'libcudnn.so.9', CUDNN, cudnnVersion(80907));
  const { devs, doctor } = child({ MDMT_CUDA_LIB_DIR: [empty, bad1, bad2].join(':'), LD_LIBRARY_PATH: '' });
  const dnn = lib(devs, 'cudnn');
  assert.is(dnn.found, false);
  const has = (re: RegExp) => assert.ok(dnn.searched.some((s) => re.test(s)), `${re} not in ${JSON.stringify(dnn.searched, null, 1)}`);
  has(new RegExp(`^MDMT_CUDA_LIB_DIR ${empty}: no libcudnn\\.so\\.9$`));
  has(new RegExp(`^MDMT_CUDA_LIB_DIR ${bad1}/libcudnn\\.so\\.9: lacks cudnnConvolutionBackwardFilter$`));
  has(new RegExp(`^MDMT_CUDA_LIB_DIR ${bad2}/libcudnn\\.so\\.9: reports version 8\\.9\\.7$`));
  has(/^LD_LIBRARY_PATH: not set$/);
  has(/^system \(ld\.so\.cache, \/lib, \/usr\/lib\): libcudnn\.so\.9: cannot open shared object file/);
  has(/^pip: /);
  const reason = devs.find((d) => d.type === 'cuda')!.reason ?? '';
  assert.match(reason, /cuDNN\/cuBLAS not found: cuBLASLt \(libcublasLt\.so\.13 or libcublasLt\.so\.12\), cuBLAS .*, cuDNN 9 \(libcudnn\.so\.9\)/);
  assert.match(doctor, /cudnn +missing; looked in:\n +MDMT_CUDA_LIB_DIR /);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
