/**
 * Every CUDA op against the CPU backend on the same random inputs (backward ops are ops,
 * so this also checks the gradients the CUDA backend produces). Tolerances:
 *   elementwise, layout, pooling, dropout, optimisers: exact or 1e-6 relative (same float maths);
 *   reductions, batchnorm, loss: 1e-5 (different summation order; both accumulate in double);
 *   conv2d and GEMMs: 1e-4 with MDMT_TF32=0, else TF32 (10-bit mantissa inputs): 2e-2 abs/rel
 *   for the sums of ≤ 600 products of values in [-1, 1] used here.
 * A final test fails when an op registered for CUDA has no case here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { closeness, CUDA_DEVICE, cudaSkipReason, HostTensor, rand, runOp } from './_cuda';

const skip = cudaSkipReason();
const TF32 = process.env.MDMT_TF32 !== '0';
const EXACT = { atol: 1e-7, rtol: 1e-6 };
const RED = { atol: 1e-5, rtol: 1e-5 };
const GEMM = TF32 ? { atol: 2e-2, rtol: 2e-2 } : { atol: 1e-4, rtol: 1e-4 };

interface Case {
  op: string;
  label: string;
  inputs: HostTensor[];
  outputs: HostTensor[];
  attrs?: Record<string, unknown>;
  tol: { atol: number; rtol: number };
  /** outputs to compare (default all) */
  compare?: number[];
  /** environment set around the CUDA run only (e.g. MDMT_CUDA_CONV=own) */
  env?: Record<string, string>;
}

const f = (shape: number[], seed: number, lo = -1, hi = 1): HostTensor => ({ shape, data: rand(seed, shape.reduce((a, b) => a * b, 1), lo, hi) });
const out = (shape: number[], dtype: HostTensor['dtype'] = 'float32'): HostTensor => ({ shape, dtype });
const n = (s: number[]) => s.reduce((a, b) => a * b, 1);

const cases: Case[] = [];
const add = (c: Case) => cases.push(c);

// ---- memory
add({ op: 'fill', label: 'f32', inputs: [], outputs: [out([1000])], attrs: { value: 3.5 }, tol: EXACT });
add({ op: 'fill', label: 'i32', inputs: [], outputs: [out([17], 'int32')], attrs: { value: -7 }, tol: EXACT });
add({ op: 'fill', label: 'u8', inputs: [], outputs: [out([33], 'uint8')], attrs: { value: 200 }, tol: EXACT });
add({ op: 'copy', label: 'f32', inputs: [f([3, 5, 7], 1)], outputs: [out([3, 5, 7])], tol: EXACT });
add({ op: 'cast', label: 'f32->i32 truncates', inputs: [f([101], 2, -50, 50)], outputs: [out([101], 'int32')], tol: EXACT });
add({ op: 'cast', label: 'i32->f32', inputs: [{ shape: [50], dtype: 'int32', data: rand(3, 50, -1e6, 1e6).map(Math.trunc) }], outputs: [out([50])], tol: EXACT });
add({ op: 'cast', label: 'f32->u8', inputs: [f([64], 4, 0, 255)], outputs: [out([64], 'uint8')], tol: EXACT });
add({ op: 'cast', label: 'u8->f32', inputs: [{ shape: [64], dtype: 'uint8', data: rand(5, 64, 0, 255).map(Math.floor) }], outputs: [out([64])], tol: EXACT });

// ---- convolution (TF32 unless MDMT_TF32=0)
const convs: [string, number[], number[], Record<string, unknown>, boolean][] = [
  ['3x3 pad 1', [2, 3, 16, 16], [8, 3, 3, 3], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }, true],
  ['7x7/2 pad 3 stem', [2, 3, 32, 30], [16, 3, 7, 7], { stride: [2, 2], padding: [3, 3], dilation: [1, 1], groups: 1 }, false],
  ['1x1', [4, 32, 8, 8], [16, 32, 1, 1], { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }, false],
  ['depthwise 3x3/2', [2, 24, 15, 15], [24, 1, 3, 3], { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 24 }, true],
  ['depthwise 5x5', [2, 16, 12, 12], [16, 1, 5, 5], { stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 16 }, false],
  ['grouped g=4', [2, 16, 9, 9], [32, 4, 3, 3], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 4 }, true],
  ['dilation 2 asym', [1, 4, 13, 10], [6, 4, 3, 2], { stride: [2, 1], padding: [2, 1], dilation: [2, 2], groups: 1 }, true],
];
convs.forEach(([label, xs, ws, attrs, bias], i) => {
  const st = attrs.stride as number[], pd = attrs.padding as number[], dl = attrs.dilation as number[];
  const P = Math.floor((xs[2] + 2 * pd[0] - dl[0] * (ws[2] - 1) - 1) / st[0]) + 1;
  const Q = Math.floor((xs[3] + 2 * pd[1] - dl[1] * (ws[3] - 1) - 1) / st[1]) + 1;
  const ys = [xs[0], ws[0], P, Q];
  const ins = [f(xs, 10 + i), f(ws, 20 + i)];
  if (bias) ins.push(f([ws[0]], 30 + i));
  add({ op: 'conv2d', label, inputs: ins, outputs: [out(ys)], attrs, tol: GEMM });
  if (i < 2) add({ op: 'conv2d_act', label: `${label} silu`, inputs: ins, outputs: [out(ys)], attrs: { ...attrs, act: 'silu' }, tol: GEMM });
  add({ op: 'conv2d_bwd_data', label, inputs: [f(ys, 40 + i), f(ws, 20 + i)], outputs: [out(xs)], attrs, tol: GEMM });
  add({ op: 'conv2d_bwd_filter', label, inputs: [f(ys, 40 + i), f(xs, 10 + i)], outputs: [out(ws)], attrs,
    tol: TF32 ? { atol: 5e-2, rtol: 2e-2 } : { atol: 1e-3, rtol: 1e-4 } });
});

// our depthwise kernels (the fallback where cuDNN offers no algorithm), forced: plain fp32
const dws: [string, number[], number[], Record<string, unknown>, boolean][] = [
  ['3x3/2', [2, 24, 15, 15], [24, 1, 3, 3], { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 24 }, true],
  ['5x5', [2, 16, 12, 12], [16, 1, 5, 5], { stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 16 }, false],
  ['multiplier 2, dilation 2, asym', [1, 4, 9, 8], [8, 1, 3, 3], { stride: [2, 1], padding: [1, 2], dilation: [2, 2], groups: 4 }, true],
];
dws.forEach(([label, xs, ws, attrs, bias], i) => {
  const st = attrs.stride as number[], pd = attrs.padding as number[], dl = attrs.dilation as number[];
  const P = Math.floor((xs[2] + 2 * pd[0] - dl[0] * (ws[2] - 1) - 1) / st[0]) + 1;
  const Q = Math.floor((xs[3] + 2 * pd[1] - dl[1] * (ws[3] - 1) - 1) / st[1]) + 1;
  const ys = [xs[0], ws[0], P, Q];
  const env = { MDMT_CUDA_CONV: 'own' };
  const ins = [f(xs, 300 + i), f(ws, 310 + i)];
  if (bias) ins.push(f([ws[0]], 320 + i));
  const tol = { atol: 1e-5, rtol: 1e-5 };
  add({ op: 'conv2d', label: `own depthwise ${label}`, inputs: ins, outputs: [out(ys)], attrs, tol, env });
  add({ op: 'conv2d_bwd_data', label: `own depthwise ${label}`, inputs: [f(ys, 330 + i), f(ws, 310 + i)], outputs: [out(xs)], attrs, tol, env });
  add({ op: 'conv2d_bwd_filter', label: `own depthwise ${label}`, inputs: [f(ys, 330 + i), f(xs, 300 + i)], outputs: [out(ws)], attrs, tol: { atol: 1e-4, rtol: 1e-5 }, env });
});

// ---- dense
add({ op: 'linear', label: 'bias', inputs: [f([64, 300], 50), f([10, 300], 51), f([10], 52)], outputs: [out([64, 10])], tol: GEMM });
add({ op: 'linear', label: 'no bias', inputs: [f([128, 512], 53), f([128, 512], 54)], outputs: [out([128, 128])], tol: GEMM });
add({ op: 'linear', label: 'head 32->2', inputs: [f([128, 32], 55), f([2, 32], 56), f([2], 57)], outputs: [out([128, 2])], tol: GEMM });
for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
  const M = 33, K = 70, N = 21;
  add({ op: 'matmul', label: `transA=${ta} transB=${tb}`, inputs: [f(ta ? [K, M] : [M, K], 60), f(tb ? [N, K] : [K, N], 61)],
    outputs: [out([M, N])], attrs: { transA: ta, transB: tb }, tol: GEMM });
}

// ---- normalisation
for (const xs of [[8, 16, 9, 9], [32, 10], [2, 3, 64, 64]]) {
  const C = xs[1], tag = xs.join('x');
  add({ op: 'batchnorm_train', label: tag, inputs: [f(xs, 70, -2, 3), f([C], 71), f([C], 72)],
    outputs: [out(xs), out([C]), out([C]), f([C], 73), f([C], 74, 0.5, 2)], attrs: { eps: 1e-5, momentum: 0.1 }, tol: RED });
  add({ op: 'batchnorm_eval', label: tag, inputs: [f(xs, 70), f([C], 71), f([C], 72), f([C], 73), f([C], 74, 0.5, 2)],
    outputs: [out(xs)], attrs: { eps: 1e-5 }, tol: RED });
  add({ op: 'batchnorm_bwd', label: tag, inputs: [f(xs, 75), f(xs, 70, -2, 3), f([C], 71), f([C], 76), f([C], 77, 0.5, 2)],
    outputs: [out(xs), out([C]), out([C])], tol: { atol: 1e-4, rtol: 1e-4 } });
}
// the fused forms (compiled steps): act(bn(x) + residual) and its backward through y, dz out
for (const act of ['relu', 'relu6']) {
  const xs = [8, 16, 9, 9], C = 16;
  add({ op: 'batchnorm_act_train', label: `${act} + residual`, inputs: [f(xs, 78, -2, 3), f([C], 71), f([C], 72), f(xs, 79)],
    outputs: [out(xs), out([C]), out([C]), f([C], 73), f([C], 74, 0.5, 2)], attrs: { eps: 1e-5, momentum: 0.1, act }, tol: RED });
  // y in [0, 7): the activation masks are the CPU's and the GPU's alike
  add({ op: 'batchnorm_act_bwd', label: `${act} dz`, inputs: [f(xs, 80), f(xs, 81, 0, 7), f(xs, 78, -2, 3), f([C], 71), f([C], 76), f([C], 77, 0.5, 2)],
    outputs: [out(xs), out([C]), out([C]), out(xs)], attrs: { act }, tol: { atol: 1e-4, rtol: 1e-4 } });
}

// ---- activations (odd length: scalar path; multiple of 4: float4 path)
for (const a of ['relu', 'relu6', 'silu', 'sigmoid', 'hardswish']) {
  for (const len of [1003, 4096]) {
    const x = f([len], 80, -8, 8);
    x.data = Array.from(x.data!, (v, i) => (i % 97 === 0 ? [-3, 3, 0, 6][i % 4] : v));  // hit the branch points
    add({ op: a, label: `n=${len}`, inputs: [x], outputs: [out([len])], tol: { atol: 1e-6, rtol: 1e-5 } });
    add({ op: `${a}_bwd`, label: `n=${len}`, inputs: [f([len], 81), x], outputs: [out([len])], tol: { atol: 1e-6, rtol: 1e-5 } });
  }
}

// ---- elementwise with broadcasting
const bshapes: [string, number[], number[], number[]][] = [
  ['same', [4, 5, 6], [4, 5, 6], [4, 5, 6]],
  ['channel', [2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
  ['channel 3-d', [2, 3, 4, 5], [3, 1, 1], [2, 3, 4, 5]],
  ['general', [2, 1, 4], [3, 1], [2, 3, 4]],
  ['scalar', [7, 3], [], [7, 3]],
  ['a broadcast', [1, 6], [5, 1], [5, 6]],
];
for (const op of ['add', 'sub', 'mul'])
  for (const [label, as, bs, ys] of bshapes)
    add({ op, label, inputs: [f(as, 90), f(bs, 91)], outputs: [out(ys)], tol: EXACT });
add({ op: 'affine', label: 'alpha beta', inputs: [f([999], 92)], outputs: [out([999])], attrs: { alpha: -2.5, beta: 0.75 }, tol: EXACT });
add({ op: 'expand', label: '[3,1] -> [2,3,4]', inputs: [f([3, 1], 93)], outputs: [out([2, 3, 4])], tol: EXACT });
add({ op: 'expand', label: '[C,1,1] -> [N,C,H,W]', inputs: [f([5, 1, 1], 94)], outputs: [out([2, 5, 3, 3])], tol: EXACT });

// ---- reductions
const reds: [number[], number[], boolean][] = [
  [[8, 16, 9, 9], [0, 2, 3], false], [[5, 300], [1], true], [[1000, 7], [0], false], [[4, 5, 6], [0, 1, 2], false],
  [[128, 64, 7, 7], [2, 3], true],
];
for (const op of ['sum', 'mean'])
  for (const [xs, axes, keepdim] of reds) {
    const ys = xs.flatMap((d, i) => (axes.includes(i) ? (keepdim ? [1] : []) : [d]));
    add({ op, label: `${xs} axes ${axes}`, inputs: [f(xs, 100)], outputs: [out(ys)], attrs: { axes, keepdim }, tol: RED });
  }

// ---- pooling
function poolOut(H: number, k: number, s: number, p: number, ceil: boolean) {
  let o = Math.floor((H + 2 * p - k + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (o - 1) * s >= H + p) o--;
  return o;
}
const pools: [number[], number, number, number, boolean][] = [[[2, 4, 15, 15], 3, 2, 1, false], [[2, 4, 14, 13], 3, 2, 0, true], [[1, 3, 8, 8], 2, 2, 0, false]];
pools.forEach(([xs, k, s, p, ceil], i) => {
  const ys = [xs[0], xs[1], poolOut(xs[2], k, s, p, ceil), poolOut(xs[3], k, s, p, ceil)];
  const attrs = { kernel: [k, k], stride: [s, s], padding: [p, p], ceil_mode: ceil };
  add({ op: 'maxpool2d', label: `${xs} k${k}s${s}p${p}${ceil ? ' ceil' : ''}`, inputs: [f(xs, 110 + i)], outputs: [out(ys), out(ys, 'int32')], attrs, tol: EXACT });
  // indices from the CPU forward feed both backends' backward
  const x = f(xs, 110 + i);
  const idx = skip ? [] : runOp('cpu', 'maxpool2d', [x], [out(ys), out(ys, 'int32')], attrs)[1];
  add({ op: 'maxpool2d_bwd', label: `${xs}`, inputs: [f(ys, 120 + i), { shape: ys, dtype: 'int32', data: idx }], outputs: [out(xs)], tol: { atol: 1e-6, rtol: 1e-6 } });
  for (const inc of [true, false]) {
    const a2 = { ...attrs, count_include_pad: inc };
    add({ op: 'avgpool2d', label: `${xs} include_pad=${inc}`, inputs: [f(xs, 130 + i)], outputs: [out(ys)], attrs: a2, tol: { atol: 1e-6, rtol: 1e-5 } });
    add({ op: 'avgpool2d_bwd', label: `${xs} include_pad=${inc}`, inputs: [f(ys, 140 + i)], outputs: [out(xs)], attrs: a2, tol: { atol: 1e-6, rtol: 1e-5 } });
  }
});
add({ op: 'global_avgpool', label: '[8,64,7,7]', inputs: [f([8, 64, 7, 7], 150)], outputs: [out([8, 64, 1, 1])], tol: RED });
add({ op: 'global_avgpool', label: '[2,3,1,1]', inputs: [f([2, 3, 1, 1], 151)], outputs: [out([2, 3, 1, 1])], tol: RED });
add({ op: 'global_avgpool_bwd', label: '[8,64,7,7]', inputs: [f([8, 64, 1, 1], 152)], outputs: [out([8, 64, 7, 7])], tol: EXACT });

// ---- layout
add({ op: 'concat', label: 'axis 1', inputs: [f([2, 3, 4, 4], 160), f([2, 5, 4, 4], 161), f([2, 1, 4, 4], 162)], outputs: [out([2, 9, 4, 4])], attrs: { axis: 1 }, tol: EXACT });
add({ op: 'concat', label: 'axis 0 int32', inputs: [{ shape: [2, 3], dtype: 'int32', data: [1, 2, 3, 4, 5, 6] }, { shape: [1, 3], dtype: 'int32', data: [7, 8, 9] }], outputs: [out([3, 3], 'int32')], attrs: { axis: 0 }, tol: EXACT });
add({ op: 'concat', label: 'axis -1 uint8', inputs: [{ shape: [2, 2], dtype: 'uint8', data: [1, 2, 3, 4] }, { shape: [2, 1], dtype: 'uint8', data: [5, 6] }], outputs: [out([2, 3], 'uint8')], attrs: { axis: -1 }, tol: EXACT });
add({ op: 'split', label: 'axis 1', inputs: [f([2, 9, 4, 4], 163)], outputs: [out([2, 3, 4, 4]), out([2, 6, 4, 4])], attrs: { axis: 1 }, tol: EXACT });
add({ op: 'channel_shuffle', label: 'g=2', inputs: [f([2, 8, 3, 3], 164)], outputs: [out([2, 8, 3, 3])], attrs: { groups: 2 }, tol: EXACT });
add({ op: 'channel_shuffle', label: 'g=4 C=12', inputs: [f([1, 12, 2, 5], 165)], outputs: [out([1, 12, 2, 5])], attrs: { groups: 4 }, tol: EXACT });
add({ op: 'transpose', label: 'NCHW->NHWC', inputs: [f([2, 3, 4, 5], 166)], outputs: [out([2, 4, 5, 3])], attrs: { perm: [0, 2, 3, 1] }, tol: EXACT });
add({ op: 'transpose', label: '2-d', inputs: [f([7, 9], 167)], outputs: [out([9, 7])], attrs: { perm: [1, 0] }, tol: EXACT });
add({ op: 'pad2d', label: 'asym', inputs: [f([2, 3, 5, 4], 168)], outputs: [out([2, 3, 8, 5])], attrs: { pads: [1, 2, 0, 1], value: -0.5 }, tol: EXACT });
add({ op: 'reorder', label: 'nchw->nhwc', inputs: [f([2, 19, 5, 7], 175)], outputs: [out([2, 19, 5, 7])], attrs: { from: 'nchw', to: 'nhwc' }, tol: EXACT });
add({ op: 'reorder', label: 'nhwc->nchw C=3', inputs: [f([3, 3, 9, 4], 176)], outputs: [out([3, 3, 9, 4])], attrs: { from: 'nhwc', to: 'nchw' }, tol: EXACT });
add({ op: 'pad2d_bwd', label: 'asym', inputs: [f([2, 3, 8, 5], 169)], outputs: [out([2, 3, 5, 4])], attrs: { pads: [1, 2, 0, 1] }, tol: EXACT });

// ---- regularisation: the mask must be bit-identical
add({ op: 'dropout', label: 'p=0.3', inputs: [f([4099], 170)], outputs: [out([4099]), out([4099], 'uint8')], attrs: { p: 0.3, seed_lo: 12345, seed_hi: 678 }, tol: { atol: 0, rtol: 1e-7 } });
add({ op: 'dropout', label: 'p=0.5 big seed', inputs: [f([2, 128, 7, 7], 171)], outputs: [out([2, 128, 7, 7]), out([2, 128, 7, 7], 'uint8')], attrs: { p: 0.5, seed_lo: 0xffffffff, seed_hi: 0xdeadbeef }, tol: { atol: 0, rtol: 1e-7 } });
add({ op: 'dropout_bwd', label: 'p=0.3', inputs: [f([999], 172), { shape: [999], dtype: 'uint8', data: rand(173, 999, 0, 2).map(Math.floor) }], outputs: [out([999])], attrs: { p: 0.3 }, tol: { atol: 0, rtol: 1e-7 } });

// ---- loss
for (const [N, C, norm] of [[37, 4, 'batch'], [37, 2, 'masked'], [128, 1000, 'batch'], [5, 3, 'masked']] as [number, number, string][]) {
  const mask = rand(180 + N, N, 0, 1).map((v) => (v < 0.4 ? 0 : 1));
  if (N === 5) mask.fill(0);  // no active row: D = max(0, 1)
  const labels = rand(190 + N, N, 0, C).map((v, i) => (mask[i] ? Math.floor(v) : -1));
  add({ op: 'masked_xent_fwd_bwd', label: `N=${N} C=${C} ${norm}`,
    inputs: [f([N, C], 200 + N, -6, 6), { shape: [N], dtype: 'int32', data: labels }, { shape: [N], data: mask }],
    outputs: [out([]), out([N, C])], attrs: { normalize: norm }, tol: RED });
}

// ---- optimisers: several tensors in one call, one larger than a chunk (8192)
const psz = [[3, 5], [20000], [64, 3, 3, 3], [1]];
for (const decoupled of [false, true]) {
  add({ op: 'adam', label: `decoupled=${decoupled}`, inputs: psz.map((s, i) => f(s, 210 + i)),
    outputs: [...psz.map((s, i) => f(s, 220 + i)), ...psz.map((s, i) => f(s, 230 + i, -0.1, 0.1)), ...psz.map((s, i) => f(s, 240 + i, 0, 0.01))],
    attrs: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4, decoupled, bias_correction1: 1 - 0.9 ** 3, bias_correction2: 1 - 0.999 ** 3 },
    tol: { atol: 1e-7, rtol: 1e-6 } });
}
add({ op: 'sgd', label: 'momentum nesterov', inputs: psz.map((s, i) => f(s, 250 + i)),
  outputs: [...psz.map((s, i) => f(s, 260 + i)), ...psz.map((s, i) => f(s, 270 + i))],
  attrs: { lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 1e-4, nesterov: true, first_step: false }, tol: { atol: 1e-7, rtol: 1e-6 } });
add({ op: 'sgd', label: 'plain (momentum 0)', inputs: psz.map((s, i) => f(s, 250 + i)), outputs: psz.map((s, i) => f(s, 260 + i)),
  attrs: { lr: 0.1, momentum: 0 }, tol: { atol: 1e-7, rtol: 1e-6 } });

// ---------------------------------------------------------------------------------------
if (skip) {
  test('cuda ops vs cpu', () => console.log(`  [skip] cuda ops vs cpu: ${skip}`));
} else {
  for (const c of cases) {
    test(`${c.op} ${c.label}: cuda = cpu`, () => {
      const cpu = runOp('cpu', c.op, c.inputs, c.outputs, c.attrs);
      for (const [k, v] of Object.entries(c.env ?? {})) process.env[k] = v;
      let gpu: number[][];
      try {
        gpu = runOp(CUDA_DEVICE, c.op, c.inputs, c.outputs, c.attrs);
        native().sync(CUDA_DEVICE);
      } finally {
        for (const k of Object.keys(c.env ?? {})) delete process.env[k];
      }
      (c.compare ?? cpu.map((_, i) => i)).forEach((k) => {
        const { ratio, at } = closeness(gpu[k], cpu[k], c.tol.atol, c.tol.rtol);
        assert.ok(ratio <= 1, `${c.op} ${c.label} output ${k}: worst at [${at}] cuda ${gpu[k][at]} vs cpu ${cpu[k][at]} ` +
          `(${ratio.toFixed(2)}x the tolerance atol ${c.tol.atol} rtol ${c.tol.rtol}; ${n(c.outputs[k].shape)} elements)`);
      });
    });
  }
  test('every op registered for CUDA has a case here', () => {
    const have = new Set(cases.map((c) => c.op));
    const missing = native().ops().filter((o) => o.device === 'cuda' && !have.has(o.op)).map((o) => o.op);
    assert.equal(missing, [], `CUDA ops without a cuda-vs-cpu case: ${missing.join(', ')}`);
  });
}

test.run();
