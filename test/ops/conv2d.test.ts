/**
 * conv2d, conv2d_bwd_data, conv2d_bwd_filter against the float64 definition (test/ref/conv2d.ts)
 * over a sweep covering every kernel path: 1×1 stride-1 (direct GEMM), im2col (3×3, 7×7/2
 * pad 3, 1×1/2, dilation 2, asymmetric stride/padding/sizes, grouped g=2/4, an image
 * large enough to be im2col'ed in two column chunks, K > KC, small maps with several
 * images per GEMM including a ragged last batch), and depthwise (groups = C,
 * multiplier 1 and 2); then the vjps by finite differences, and the errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { conv2d, conv2dBwdData, conv2dBwdFilter, GemmIsa } from '../../ts/ops/conv2d';
import { sum } from '../../ts/ops/reduce';
import { tidy } from '../../ts/tensor';
import { assertClose, DEVICE, deviceAvailable, f32, gradcheck, numel, onThreads, Rng, t32 } from '../helpers';
import { conv2dBwdDataRef, conv2dBwdFilterRef, conv2dRef, ConvCfg, convOutShape } from '../ref/conv2d';

const on = deviceAvailable('conv2d');

interface Case extends ConvCfg {
  label: string;
  x: number[]; // N, C, H, W
  w: number[]; // K, C/g, R, S
  bias: boolean;
}
const mk = (label: string, x: number[], w: number[], o: Partial<ConvCfg> = {}, bias = true): Case => ({
  label, x, w, bias, stride: o.stride ?? [1, 1], padding: o.padding ?? [0, 0], dilation: o.dilation ?? [1, 1], groups: o.groups ?? 1,
});

const CASES: Case[] = [
  mk('3x3 pad 1', [2, 3, 8, 8], [4, 3, 3, 3], { padding: [1, 1] }),
  mk('3x3 stride 2, asymmetric H≠W', [2, 4, 9, 6], [5, 4, 3, 3], { stride: [2, 2], padding: [1, 1] }),
  mk('3x3 dilation 2', [1, 3, 10, 11], [4, 3, 3, 3], { dilation: [2, 2], padding: [2, 2] }),
  mk('depthwise 3x3', [2, 6, 7, 9], [6, 1, 3, 3], { padding: [1, 1], groups: 6 }),
  mk('depthwise 5x5 stride 2', [2, 8, 11, 10], [8, 1, 5, 5], { stride: [2, 2], padding: [2, 2], groups: 8 }, false),
  mk('depthwise multiplier 2, dilation 2', [1, 4, 9, 8], [8, 1, 3, 3], { dilation: [2, 2], padding: [1, 2], groups: 4 }),
  mk('grouped g=2', [2, 4, 6, 7], [6, 2, 3, 3], { padding: [1, 1], groups: 2 }),
  mk('grouped g=4 stride 2', [1, 8, 9, 9], [8, 2, 3, 3], { stride: [2, 2], padding: [1, 1], groups: 4 }),
  mk('1x1 batch 1 (direct GEMM)', [1, 16, 5, 7], [8, 16, 1, 1], {}),
  mk('1x1 grouped (direct GEMM)', [2, 8, 4, 3], [12, 4, 1, 1], { groups: 2 }, false),
  mk('1x1 stride 2 (downsample)', [2, 6, 9, 8], [10, 6, 1, 1], { stride: [2, 2] }, false),
  mk('7x7 stride 2 pad 3 (stem)', [1, 3, 20, 18], [8, 3, 7, 7], { stride: [2, 2], padding: [3, 3] }),
  mk('asymmetric stride/padding/kernel', [2, 3, 10, 7], [4, 3, 3, 2], { stride: [2, 1], padding: [1, 0], dilation: [1, 2] }),
  mk('kernel covers the padded input', [1, 2, 3, 3], [3, 2, 5, 5], { padding: [1, 1] }),
  mk('padding wider than the kernel radius', [2, 2, 5, 4], [3, 2, 3, 3], { stride: [2, 1], padding: [3, 2] }),
  mk('depthwise, padding wider than the kernel radius', [1, 3, 4, 5], [3, 1, 3, 3], { stride: [1, 2], padding: [2, 3], groups: 3 }),
  mk('C·R·S > KC, odd K', [2, 64, 10, 10], [37, 64, 3, 3], { padding: [1, 1] }),
  mk('two im2col column chunks', [1, 32, 90, 90], [4, 32, 3, 3], { padding: [1, 1] }, false),
  mk('images batched 2 + 1 per GEMM', [3, 4, 30, 30], [5, 4, 3, 3], { padding: [1, 1] }),
  mk('1x1 images batched 2 + 1 per GEMM', [3, 6, 30, 30], [5, 6, 1, 1], {}),
  mk('one image per GEMM, images in parallel', [2, 3, 34, 33], [4, 3, 3, 3], { padding: [1, 1] }),
];

// float32 sums of `terms` products of |values| ≤ 1 against float64
const tol = (terms: number) => ({ atol: 1e-5 + 2e-7 * terms, rtol: 1e-5 });
const cfgOf = (c: Case) => ({ stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });

function data(rng: Rng, c: Case) {
  const ys = convOutShape(c.x, c.w, c);
  return {
    ys,
    x: f32(rng.array(numel(c.x))), w: f32(rng.array(numel(c.w))), b: c.bias ? f32(rng.array(c.w[0])) : null,
    dy: f32(rng.array(numel(ys))),
  };
}

test('conv2d forward = float64 definition over the sweep', () => {
  if (!on) return;
  const rng = new Rng(201);
  for (const c of CASES) {
    const d = data(rng, c);
    const y = tidy(() => conv2d(t32(d.x, c.x), t32(d.w, c.w), d.b && t32(d.b, [c.w[0]]), cfgOf(c)));
    assert.equal([...y.shape], d.ys, `${c.label}: shape`);
    const got = y.toArray();
    y.dispose();
    assertClose(got, conv2dRef(d.x, c.x, d.w, c.w, d.b, c), tol(c.w[1] * c.w[2] * c.w[3]), c.label);
  }
});

test('conv2d_bwd_data and conv2d_bwd_filter = the reference adjoints', () => {
  if (!on) return;
  const rng = new Rng(202);
  for (const c of CASES) {
    const d = data(rng, c);
    const dx = tidy(() => conv2dBwdData(t32(d.dy, d.ys), t32(d.w, c.w), c.x, cfgOf(c)).toArray());
    assertClose(dx, conv2dBwdDataRef(d.dy, c.x, d.w, c.w, c), tol((c.w[0] / c.groups) * c.w[2] * c.w[3]), `${c.label} bwd_data`);
    const dw = tidy(() => conv2dBwdFilter(t32(d.dy, d.ys), t32(d.x, c.x), c.w, cfgOf(c)).toArray());
    assertClose(dw, conv2dBwdFilterRef(d.dy, d.x, c.x, c.w, c), tol(d.ys[0] * d.ys[2] * d.ys[3]), `${c.label} bwd_filter`);
  }
});

test('conv2d_bwd_filter: images split between threads or one GEMM parallel inside (shallow GEMMs, dw ≥ 1 Mi floats) = the reference', () => {
  if (!on) return;
  const rng = new Rng(204);
  // [1024, 128, 3, 3]: 1.2 Mi floats of dw from 2 images of 4×4 (one part); 512 outputs
  // (0.6 Mi, split into parts whenever there are ≥ 2 threads); each on 1, 2 and 3 threads
  for (const c of [mk('dw of 1.2 Mi floats from 4x4 maps', [2, 128, 4, 4], [1024, 128, 3, 3], { padding: [1, 1] }),
    mk('dw of 0.6 Mi floats from 4x4 maps', [3, 128, 4, 4], [512, 128, 3, 3], { padding: [1, 1] })]) {
    const d = data(rng, c);
    const ref = conv2dBwdFilterRef(d.dy, d.x, c.x, c.w, c);
    onThreads([1, 2, 3], (t) => {
      const dw = tidy(() => conv2dBwdFilter(t32(d.dy, d.ys), t32(d.x, c.x), c.w, cfgOf(c)).toArray());
      assertClose(dw, ref, tol(d.ys[0] * d.ys[2] * d.ys[3]), `${c.label}, ${t} threads`);
    });
  }
});

test('conv2d_bwd_filter: batches whose split leaves an image part empty (N = 4 on 3 threads, N = 6 on 4) = the reference', () => {
  if (!on || DEVICE !== 'cpu') return;
  const rng = new Rng(206);
  // The images were split into min(N, threads) parts of ⌈N/parts⌉: 4 images on 3 threads gave
  // parts of 2, 2 and 0, 6 on 4 gave 2, 2, 2 and 0, and the empty part's partial sum buffer,
  // never written, was added into dw. Each case first runs a batch that fills every part's
  // buffer (N = 8), so stale sums are nonzero. Never seen on 2 threads (found by a fuzz at 3–4).
  for (const [n, t] of [[4, 3], [6, 4], [9, 4]]) {
    const fill = mk('all parts used', [8, 8, 6, 6], [5, 8, 1, 1], {}, false);
    const c = mk(`N=${n} on ${t} threads`, [n, 8, 6, 6], [5, 8, 1, 1], {}, false);
    const f = data(rng, fill), d = data(rng, c);
    const ref = conv2dBwdFilterRef(d.dy, d.x, c.x, c.w, c);
    onThreads([t], () => {
      tidy(() => conv2dBwdFilter(t32(f.dy, f.ys), t32(f.x, fill.x), fill.w, cfgOf(fill)).toArray());
      const dw = tidy(() => conv2dBwdFilter(t32(d.dy, d.ys), t32(d.x, c.x), c.w, cfgOf(c)).toArray());
      assertClose(dw, ref, tol(d.ys[0] * d.ys[2] * d.ys[3]), c.label);
    });
  }
});

test('conv2d_bwd_data: small maps with large weights (colᵀ = dyᵀ·w, then transposed) = the reference', () => {
  if (!on) return;
  const rng = new Rng(205);
  // 512×64×3×3 = 288 Ki floats of weights: 4×4 maps, 16..64 columns a GEMM on 1-3 threads;
  // 3×3 stride 2 in 2 groups of 600 × 450 (partial 16-blocks of the transpose);
  // 12 images on one thread: 192 columns, the transposed-A GEMM (dilation 2 keeps the
  // 4×4 maps off Winograd, which 3×3 stride-1 convs of ≥ 128 output pixels take)
  for (const [c, ths] of [[mk('4x4 maps, 512 out', [4, 64, 4, 4], [512, 64, 3, 3], { padding: [1, 1] }), [1, 2, 3]],
    [mk('stride 2, grouped, rows of CRS not a multiple of 16', [4, 100, 7, 5], [1200, 50, 3, 3], { stride: [2, 2], padding: [1, 1], groups: 2 }), [1, 2]],
    [mk('192 columns', [12, 64, 4, 4], [512, 64, 3, 3], { padding: [2, 2], dilation: [2, 2] }), [1]]] as [Case, number[]][]) {
    const d = data(rng, c);
    const ref = conv2dBwdDataRef(d.dy, c.x, d.w, c.w, c);
    onThreads(ths, (t) => {
      const dx = tidy(() => conv2dBwdData(t32(d.dy, d.ys), t32(d.w, c.w), c.x, cfgOf(c)).toArray());
      assertClose(dx, ref, tol((c.w[0] / c.groups) * c.w[2] * c.w[3]), `${c.label}, ${t} threads`);
    });
  }
});

test('conv2d: every ISA path (GEMM micro-kernels, im2col/depthwise row loops) gives the same convolution', () => {
  if (!on || process.env.MDMT_DEVICE && process.env.MDMT_DEVICE !== 'cpu') return;
  const isa = native().devices().find((x) => x.name === 'cpu')!.props.isa;
  const isas: GemmIsa[] = ['generic', ...(isa !== 'generic' ? ['avx2' as const] : []), ...(isa === 'avx512f' ? ['avx512_14x32' as const, 'avx512_8x48' as const] : [])];
  const rng = new Rng(203);
  const labels = ['3x3 stride 2, asymmetric H≠W', 'depthwise 3x3', 'depthwise 5x5 stride 2', 'depthwise multiplier 2, dilation 2', 'grouped g=2',
    '1x1 stride 2 (downsample)', '7x7 stride 2 pad 3 (stem)', 'C·R·S > KC, odd K'];
  for (const c of CASES.filter((k) => labels.includes(k.label))) {
    const d = data(rng, c);
    const ref = conv2dRef(d.x, c.x, d.w, c.w, d.b, c);
    const refDx = conv2dBwdDataRef(d.dy, c.x, d.w, c.w, c);
    const refDw = conv2dBwdFilterRef(d.dy, d.x, c.x, c.w, c);
    for (const i of isas) {
      const o = { ...cfgOf(c), isa: i };
      assertClose(tidy(() => conv2d(t32(d.x, c.x), t32(d.w, c.w), d.b && t32(d.b, [c.w[0]]), o).toArray()), ref, tol(numel(c.w.slice(1))), `${c.label} ${i}`);
      assertClose(tidy(() => conv2dBwdData(t32(d.dy, d.ys), t32(d.w, c.w), c.x, o).toArray()), refDx, tol(c.w[0] * c.w[2] * c.w[3]), `${c.label} ${i} bwd_data`);
      assertClose(tidy(() => conv2dBwdFilter(t32(d.dy, d.ys), t32(d.x, c.x), c.w, o).toArray()), refDw, tol(numel(d.ys)), `${c.label} ${i} bwd_filter`);
    }
  }
});

// small shapes: each finite-difference sample re-runs the float64 reference twice
const GRAD: Case[] = [
  mk('3x3 stride 2 pad 1', [2, 3, 5, 6], [4, 3, 3, 3], { stride: [2, 2], padding: [1, 1] }),
  mk('dilation 2', [1, 2, 7, 6], [3, 2, 3, 3], { dilation: [2, 2], padding: [1, 1] }),
  mk('depthwise', [2, 4, 5, 5], [4, 1, 3, 3], { padding: [1, 1], groups: 4 }),
  mk('grouped g=2', [1, 4, 5, 4], [4, 2, 3, 3], { padding: [1, 1], groups: 2 }),
  mk('1x1', [2, 5, 3, 4], [3, 5, 1, 1]),
  mk('7x7 stride 2 pad 3', [1, 2, 9, 8], [3, 2, 7, 7], { stride: [2, 2], padding: [3, 3] }),
];

test('conv2d vjp (x, w, b) = finite differences of the reference', () => {
  if (!on) return;
  const rng = new Rng(204);
  for (const c of GRAD) {
    gradcheck({
      label: `conv2d ${c.label}`, rng,
      inputs: [{ data: rng.array(numel(c.x)), shape: c.x }, { data: rng.array(numel(c.w)), shape: c.w }, { data: rng.array(c.w[0]), shape: [c.w[0]] }],
      engine: ([x, w, b]) => conv2d(x, w, b, cfgOf(c)),
      ref: ([x, w, b]) => conv2dRef(x, c.x, w, c.w, b, c),
    });
  }
});

test('conv2d_bwd_data / _bwd_filter vjps (second order) = finite differences', () => {
  if (!on) return;
  const rng = new Rng(205);
  for (const c of [GRAD[0], GRAD[2], GRAD[3]]) {
    const ys = convOutShape(c.x, c.w, c);
    gradcheck({
      label: `conv2d_bwd_data ${c.label}`, rng, samples: 24,
      inputs: [{ data: rng.array(numel(ys)), shape: ys }, { data: rng.array(numel(c.w)), shape: c.w }],
      engine: ([dy, w]) => conv2dBwdData(dy, w, c.x, cfgOf(c)),
      ref: ([dy, w]) => conv2dBwdDataRef(dy, c.x, w, c.w, c),
    });
    gradcheck({
      label: `conv2d_bwd_filter ${c.label}`, rng, samples: 24,
      inputs: [{ data: rng.array(numel(ys)), shape: ys }, { data: rng.array(numel(c.x)), shape: c.x }],
      engine: ([dy, x]) => conv2dBwdFilter(dy, x, c.w, cfgOf(c)),
      ref: ([dy, x]) => conv2dBwdFilterRef(dy, x, c.x, c.w, c),
    });
  }
});

function throwsMdmt(fn: () => unknown, code: string, msg: RegExp): void {
  try {
    tidy(fn);
  } catch (e) {
    assert.is((e as { code: string }).code, code, (e as Error).message);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`no error (expected ${msg})`);
}

test('conv2d ops reject bad shapes and options, naming op and argument', () => {
  if (!on) return;
  const x = () => t32(new Float64Array(2 * 4 * 5 * 5), [2, 4, 5, 5]);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(3 * 3 * 9), [3, 3, 3, 3])), 'ESHAPE', /conv2d: w \[3, 3, 3, 3\] must have C\/groups = 4/);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(6 * 2 * 9), [6, 2, 3, 3]), null, { groups: 3 }), 'ESHAPE', /conv2d: groups 3 must divide/);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(3 * 4 * 49), [3, 4, 7, 7])), 'ESHAPE', /conv2d: kernel 7x7/);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), t32([1, 2], [2])), 'ESHAPE', /conv2d: b \[2\] must have 3 elements/);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(36), [3, 4, 3]) as never), 'ESHAPE', /conv2d: 'w' must have 4 dims/);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), null, { stride: 0 }), 'EINVAL', /conv2d: 'stride' must be an integer >= 1/);
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), null, { padding: [1, -1] }), 'EINVAL', /conv2d: 'padding'/);
  // a misspelt option was ignored: the conv ran unpadded
  throwsMdmt(() => conv2d(x(), t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), null, { paddin: 1 } as never), 'EINVAL',
    /conv2d: unknown option 'paddin' \(it would be ignored\); did you mean padding\?; options: stride, padding, dilation, groups, isa/);
  throwsMdmt(() => conv2dBwdData(t32(new Float64Array(2 * 3 * 3 * 3), [2, 3, 3, 3]), t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), [2, 4, 5, 5], { strides: 1 } as never), 'EINVAL',
    /conv2d_bwd_data: unknown option 'strides'.*did you mean stride\?/);
  throwsMdmt(() => conv2dBwdData(t32(new Float64Array(2 * 3 * 4 * 4), [2, 3, 4, 4]), t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), [2, 4, 5, 5]), 'ESHAPE',
    /conv2d_bwd_data: dy \[2, 3, 4, 4\] must have shape \[2, 3, 3, 3\]/);
  throwsMdmt(() => conv2dBwdFilter(t32(new Float64Array(2 * 3 * 3 * 3), [2, 3, 3, 3]), x(), [3, 4, 3]), 'EINVAL', /conv2d_bwd_filter: 'wShape'/);
  // the native kernel checks again when called directly with inconsistent tensors
  throwsMdmt(() => {
    const a = x(), w = t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]), y = t32(new Float64Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    native().run('conv2d', [a.id, w.id], [y.id], { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 });
  }, 'ESHAPE', /conv2d: output\/gradient \[2, 3, 4, 4\] must have shape \[2, 3, 3, 3\]/);
  // bias gradient is sum over (0, 2, 3): a sanity link with the sum op
  const g = tidy(() => sum(t32(new Float64Array(24).fill(1), [2, 3, 2, 2]), [0, 2, 3]).toArray());
  assert.equal([...g], [8, 8, 8]);
});

test.run();
