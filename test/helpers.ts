/**
 * Test helpers shared by every suite: seeded random data, float32 tensors on the device
 * under test ($MDMT_DEVICE, default cpu), closeness checks with stated tolerances, and
 * gradcheck: the engine's vjp against central finite differences of the float64
 * reference (test/ref), so backward kernels are checked against the maths, not against
 * themselves.
 */
import { spawnSync, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { backward } from '../ts/autograd/tape';
import { MdmtError } from '../ts/errors';
import { native } from '../ts/native/binding';
import { keep, liveTensorCount, normDevice, tensor, Tensor, tidy } from '../ts/tensor';

export const DEVICE = normDevice(process.env.MDMT_DEVICE || 'cpu');

/** Runs fn(t) with the CPU thread pool at each of `counts` threads in turn, then restores the
 * count it had (also when fn throws). */
export function onThreads(counts: readonly number[], fn: (t: number) => void): void {
  const before = native().setThreads();
  try {
    for (const t of counts) {
      native().setThreads(t);
      fn(t);
    }
  } finally {
    native().setThreads(before);
  }
}

/** True when the device under test is usable; otherwise prints why and returns false. */
export function deviceAvailable(suite: string): boolean {
  if (DEVICE === 'cpu') return true;
  const d = native().devices().find((x) => x.name === DEVICE);
  if (d?.available) return true;
  console.log(`  [skip] ${suite}: ${DEVICE} unavailable (${d?.reason ?? 'no such device'})`);
  return false;
}

/** Small, fast, seeded generator (mulberry32) with uniform / normal / int draws. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  array(n: number, lo = -1, hi = 1): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = this.uniform(lo, hi);
    return a;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
}

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** float32 tensor on the device under test, from float64 (or any) data. */
export function t32(data: ArrayLike<number>, shape: readonly number[]): Tensor {
  return tensor(Float32Array.from(data), shape, { device: DEVICE });
}

/** Rounds to float32 (inputs the reference sees must equal what the engine sees). */
export function f32(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(a));
}

export interface Tol {
  atol: number;
  rtol: number;
}

/** |a − e| ≤ atol + rtol·|e| elementwise; reports the first failures with indices. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, label = ''): void {
  assert.is(actual.length, expected.length, `${label}: length ${actual.length} vs ${expected.length}`);
  const bad: string[] = [];
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const err = Math.abs(a - e);
    const lim = tol.atol + tol.rtol * Math.abs(e);
    if (!(err <= lim) || Number.isNaN(a) !== Number.isNaN(e)) {
      if (bad.length < 5) bad.push(`[${i}] got ${a}, expected ${e} (|err| ${err.toExponential(2)} > ${lim.toExponential(2)})`);
      worst++;
    }
  }
  if (bad.length) assert.unreachable(`${label}: ${worst}/${actual.length} elements outside atol=${tol.atol} rtol=${tol.rtol}\n  ${bad.join('\n  ')}`);
}

export interface GradInput {
  data: Float64Array;
  shape: readonly number[];
  /** false: not differentiated (integer labels, indices) */
  grad?: boolean;
  dtype?: 'float32' | 'int32';
}

export interface GradcheckSpec {
  label: string;
  inputs: GradInput[];
  /** engine forward on tensors made from inputs; returns the output to differentiate */
  engine: (xs: Tensor[]) => Tensor;
  /** float64 reference forward */
  ref: (xs: Float64Array[]) => Float64Array;
  rng: Rng;
  tol?: Tol;
  /** finite-difference step */
  h?: number;
  /** coordinates sampled per input (all when the input is smaller) */
  samples?: number;
}

/**
 * Checks d/dx Σ(w · f(x)) for a random cotangent w: the engine's backward (float32)
 * against central differences of the float64 reference at sampled coordinates.
 */
export function gradcheck(spec: GradcheckSpec): void {
  const { inputs, rng } = spec;
  const tol = spec.tol ?? { atol: 1e-3, rtol: 1e-2 };
  const h = spec.h ?? 1e-4;
  const xs = inputs.map((i) => (i.dtype === 'int32' ? i.data : f32(i.data)));
  const y0 = spec.ref(xs);
  const w = f32(rng.array(y0.length));
  const analytic = tidy(() => {
    const ts = inputs.map((inp, k) => {
      const t = inp.dtype === 'int32' ? tensor(Int32Array.from(xs[k]), inp.shape, { dtype: 'int32', device: DEVICE }) : t32(xs[k], inp.shape);
      if (inp.grad !== false && inp.dtype !== 'int32') t.requiresGrad = true;
      return t;
    });
    const y = spec.engine(ts);
    assert.is(y.size, y0.length, `${spec.label}: engine output has ${y.size} elements, reference ${y0.length}`);
    const wt = t32(w, y.shape);
    backward(y, { grad: wt });
    const gs = ts.map((t) => (t.grad ? Float64Array.from(t.grad.toArray()) : null));
    for (const t of ts) t.grad?.dispose();
    return gs;
  });
  const f = (vals: Float64Array[]) => {
    const y = spec.ref(vals);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * w[i];
    return s;
  };
  inputs.forEach((inp, k) => {
    if (inp.grad === false || inp.dtype === 'int32') return;
    const g = analytic[k];
    assert.ok(g, `${spec.label}: input ${k} received no gradient`);
    const n = inp.data.length;
    const count = Math.min(n, spec.samples ?? 48);
    const idx = count === n ? [...Array(n).keys()] : Array.from({ length: count }, () => rng.int(0, n - 1));
    const num: number[] = [], ana: number[] = [];
    for (const i of idx) {
      const plus = xs.map((a) => Float64Array.from(a));
      const minus = xs.map((a) => Float64Array.from(a));
      plus[k][i] += h;
      minus[k][i] -= h;
      num.push((f(plus) - f(minus)) / (2 * h));
      ana.push(g![i]);
    }
    assertClose(ana, num, tol, `${spec.label} d/dinput${k}`);
  });
}

/** Live tensor count must return to its value before fn. */
export function assertNoLeak(label: string, fn: () => void): void {
  const before = liveTensorCount();
  fn();
  assert.is(liveTensorCount(), before, `${label}: live tensors ${before} -> ${liveTensorCount()}`);
}

/** fn must throw an MdmtError with this code and op whose message matches `pattern`. */
export function expectError(fn: () => unknown, code: string, op: string, pattern: RegExp, label: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, MdmtError, `${label}: not an MdmtError: ${String(e)}`);
    const err = e as MdmtError;
    assert.is(err.code, code, `${label}: code ${err.code} (${err.message})`);
    assert.is(err.op, op, `${label}: op ${err.op} (${err.message})`);
    assert.match(err.message, pattern, `${label}: message '${err.message}'`);
    return;
  }
  assert.unreachable(`${label}: did not throw`);
}

/** fn must throw an MdmtError whose message contains every needle (a file, a key, a value). */
export function throwsNaming(fn: () => unknown, ...needles: string[]): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, MdmtError);
    for (const n of needles) assert.ok((e as Error).message.includes(n), `'${(e as Error).message}' should name '${n}'`);
    return;
  }
  assert.unreachable(`expected an error naming ${needles.join(', ')}`);
}

/** A kept float32 leaf that requires grad (an optimiser's parameter). */
export function param(data: ArrayLike<number>, shape: readonly number[]): Tensor {
  const t = keep(t32(data, shape));
  t.requiresGrad = true;
  return t;
}

/** Replaces p.grad with a kept float32 tensor of `g`. */
export function setGrad(p: Tensor, g: ArrayLike<number>): void {
  p.grad?.dispose();
  p.grad = keep(t32(g, p.shape));
}

/**
 * Runs the mdmt CLI (the compiled shim from dist, or the TS entry through tsx) in a child whose
 * regular-file writes stop at `kib` KiB (RLIMIT_FSIZE via bash's `ulimit -f`; Node ignores
 * SIGXFSZ, so a write past it fails with EFBIG part-way, as ENOSPC does on a full disk). Linux
 * and macOS only; pipes (stdout, stderr) are not limited.
 *
 * @example const r = mdmtFileLimited(64, 'export', '--model', 'resnet18', '--out', 'm.onnx'); r.status // 1
 */
export function mdmtFileLimited(kib: number, ...args: string[]): SpawnSyncReturns<string> {
  let root = __dirname;
  while (!fs.existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
  const fromDist = path.extname(__filename) === '.js';
  const entry = fromDist ? [path.join(root, 'bin', 'mdmt.js')] : ['--require', require.resolve('tsx/cjs'), path.join(root, 'ts', 'cli', 'main.ts')];
  return spawnSync('bash', ['-c', 'ulimit -f "$0" && exec "$@"', String(kib), process.execPath, ...entry, ...args],
    { cwd: root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
}
