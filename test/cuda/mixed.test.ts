/**
 * The bf16 and NHWC forms of the CUDA ops (native/cuda/lowp.cc, conv2d.cc, reorder) against
 * the fp32 NCHW CPU backend: one case per op of CUDA_LOW_OPS / CUDA_NHWC_OPS
 * (ts/plan/passes), the lists the plan passes trust, so they cannot name a kernel that is
 * missing or wrong (a final test fails on an op without a case).
 *
 * Device side: every activation operand (a conv weight included) is uploaded as fp32 NCHW
 * and turned into the mode's dtype and layout by reorder on the device; the op runs with
 * `layout: 'nhwc'` where the mode says so; activation outputs come back through reorder to
 * fp32 NCHW. CPU side: the same numbers (rounded to bf16 first in bf16 modes) through the
 * fp32 NCHW kernels. Tolerances: fp32 NHWC as test/cuda/ops.test.ts; bf16 modes allow the
 * one rounding of each stored result (2^-8 relative; 2 ulp plus a small atol for sums).
 * MDMT_CUDA_TEST_DEVICE=cpu checks the cases on the CPU side only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { CUDA_NHWC_OPS } from '../../ts/plan/passes/nhwc';
import { CUDA_LOW_OPS } from '../../ts/plan/passes/precision';
import { roundBf16 } from '../plan/_interp';
import { closeness, CUDA_DEVICE, cudaSkipReason, rand, runOp } from './_cuda';

const skip = cudaSkipReason();
const dry = CUDA_DEVICE === 'cpu';
const TF32 = process.env.MDMT_TF32 !== '0';

type Tol = { atol: number; rtol: number };
interface Mode {
  dtype: 'float32' | 'bfloat16';
  layout: 'nchw' | 'nhwc';
}
/**
 * act: an activation (the mode's dtype and layout); idx: pooling indices (int32, the mode's
 * layout); map32: an fp32 tensor in the mode's layout (a reduction's 4-D output); f32: an
 * fp32 parameter or result as it is
 */
interface Operand {
  shape: number[];
  kind: 'act' | 'idx' | 'map32' | 'f32';
  data?: number[];
}
interface Case {
  op: string;
  label: string;
  inputs: Operand[];
  outputs: Operand[];
  attrs?: Record<string, unknown>;
  modes: Mode[];
  /** tolerance of the fp32 and of the bf16 modes */
  tol: [Tol, Tol];
}

const NHWC: Mode[] = [{ dtype: 'float32', layout: 'nhwc' }, { dtype: 'bfloat16', layout: 'nhwc' }];
const LOW: Mode[] = [{ dtype: 'bfloat16', layout: 'nchw' }];
const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
const act = (shape: number[], seed: number, lo = -1, hi = 1): Operand => ({ shape, kind: 'act', data: rand(seed, n(shape), lo, hi) });
const act_ = act;
const par = (shape: number[], seed: number, lo = -1, hi = 1): Operand => ({ shape, kind: 'f32', data: rand(seed, n(shape), lo, hi) });
const aout = (shape: number[]): Operand => ({ shape, kind: 'act' });
const fout = (shape: number[], data?: number[]): Operand => ({ shape, kind: 'f32', data });
const EXACT: Tol = { atol: 1e-7, rtol: 1e-6 };
const RED: Tol = { atol: 1e-5, rtol: 1e-5 };
const GEMM: Tol = TF32 ? { atol: 2e-2, rtol: 2e-2 } : { atol: 1e-4, rtol: 1e-4 };
const B1: Tol = { atol: 1e-6, rtol: 8e-3 }; // one rounding of a computed value
const BSUM: Tol = { atol: 2e-2, rtol: 8e-3 }; // a rounded sum of many terms

const cases: Case[] = [];
const add = (c: Case) => cases.push(c);

// convolutions: the weight is an activation operand here (the plan stores its bf16 K·R·S·C copy)
const CONV = [
  ['3x3 pad 1 + bias', [2, 16, 9, 9], [32, 16, 3, 3], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }, true],
  ['1x1 stride 2', [2, 32, 8, 8], [16, 32, 1, 1], { stride: [2, 2], padding: [0, 0], dilation: [1, 1], groups: 1 }, false],
  ['depthwise 3x3', [2, 24, 10, 10], [24, 1, 3, 3], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 24 }, false],
  ['stem 7x7/2 C=3', [2, 3, 20, 20], [16, 3, 7, 7], { stride: [2, 2], padding: [3, 3], dilation: [1, 1], groups: 1 }, false],
] as const;
CONV.forEach(([label, xs, ws, attrs, bias], i) => {
  const oh = (h: number, k: number) => Math.floor((h + 2 * attrs.padding[0] - k) / attrs.stride[0]) + 1;
  const ys = [xs[0], ws[0], oh(xs[2], ws[2]), oh(xs[3], ws[3])];
  add({ op: 'conv2d', label, inputs: [act([...xs], 10 + i), act([...ws], 20 + i), ...(bias ? [par([ws[0]], 30 + i)] : [])], outputs: [aout(ys)], attrs, modes: NHWC, tol: [GEMM, BSUM] });
  add({ op: 'conv2d_bwd_data', label, inputs: [act(ys, 40 + i), act([...ws], 20 + i)], outputs: [aout([...xs])], attrs, modes: NHWC, tol: [GEMM, BSUM] });
  add({ op: 'conv2d_bwd_filter', label, inputs: [act(ys, 40 + i), act([...xs], 10 + i)], outputs: [aout([...ws])], attrs, modes: NHWC, tol: [GEMM, { atol: 5e-2, rtol: 8e-3 }] });
});

// conv2d_act (the conv, then its activation in place; bias fp32)
for (const act of ['relu', 'silu']) {
  const attrs = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, act };
  add({ op: 'conv2d_act', label: act, inputs: [act_([2, 16, 9, 9], 15), act_([32, 16, 3, 3], 16), par([32], 17)], outputs: [aout([2, 32, 9, 9])], attrs, modes: NHWC, tol: [GEMM, BSUM] });
}

// the fused BatchNorm forms: act(bn(x) [+ residual]) and its backward through y, dz out
for (const act of ['relu', 'relu6']) {
  const xs = [4, 24, 5, 5], C = 24;
  const stats = [fout([C]), fout([C]), fout([C], rand(57, C, -0.1, 0.1)), fout([C], rand(58, C, 0.5, 1.5))];
  add({ op: 'batchnorm_act_train', label: `${act} + residual`, inputs: [act_(xs, 53, -2, 3), par([C], 54, 0.5, 1.5), par([C], 55), act_(xs, 56)], outputs: [aout(xs), ...stats], attrs: { eps: 1e-5, momentum: 0.1, act }, modes: NHWC, tol: [RED, B1] });
  // y from the CPU forward, so the activation masks agree
  const y = act_(xs, 59, 0, 7);
  add({ op: 'batchnorm_act_bwd', label: `${act} dz`, inputs: [act_(xs, 60), y, act_(xs, 53, -2, 3), par([C], 54, 0.5, 1.5), par([C], 61, -0.5, 0.5), par([C], 62, 0.5, 2)], outputs: [aout(xs), fout([C]), fout([C]), aout(xs)], attrs: { act }, modes: NHWC, tol: [RED, { atol: 2e-2, rtol: 1e-2 }] });
}

// BatchNorm: statistics and parameters fp32; running statistics in/out
for (const [xs, seed] of [[[4, 24, 5, 5], 50], [[3, 64, 7, 7], 51], [[16, 40], 52]] as [number[], number][]) {
  const C = xs[1];
  const stats = [fout([C]), fout([C]), fout([C], rand(seed + 5, C, -0.1, 0.1)), fout([C], rand(seed + 6, C, 0.5, 1.5))];
  add({ op: 'batchnorm_train', label: `${xs}`, inputs: [act(xs, seed, -2, 3), par([C], seed + 1, 0.5, 1.5), par([C], seed + 2)], outputs: [aout(xs), ...stats], attrs: { eps: 1e-5, momentum: 0.1 }, modes: NHWC, tol: [RED, B1] });
  const mean = par([C], seed + 3, -0.5, 0.5), inv = par([C], seed + 4, 0.5, 2);
  add({ op: 'batchnorm_bwd', label: `${xs}`, inputs: [act(xs, seed + 7), act(xs, seed, -2, 3), par([C], seed + 1, 0.5, 1.5), mean, inv], outputs: [aout(xs), fout([C]), fout([C])], modes: NHWC, tol: [RED, { atol: 2e-2, rtol: 1e-2 }] });
  add({ op: 'batchnorm_eval', label: `${xs}`, inputs: [act(xs, seed, -2, 3), par([C], seed + 1, 0.5, 1.5), par([C], seed + 2), par([C], seed + 3), par([C], seed + 4, 0.5, 2)], outputs: [aout(xs)], attrs: { eps: 1e-5 }, modes: NHWC, tol: [RED, B1] });
}

// activations on bf16 storage (layout-free: elementwise)
for (const a of ['relu', 'relu6', 'silu', 'sigmoid', 'hardswish']) {
  add({ op: a, label: 'bf16', inputs: [act([2, 8, 5, 7], 60, -8, 8)], outputs: [aout([2, 8, 5, 7])], modes: LOW, tol: [EXACT, B1] });
  add({ op: `${a}_bwd`, label: 'bf16', inputs: [act([2, 8, 5, 7], 61), act([2, 8, 5, 7], 62, -8, 8)], outputs: [aout([2, 8, 5, 7])], modes: LOW, tol: [EXACT, B1] });
}

// binary ops: same shape (any layout), squeeze-excite and bias-like broadcasts in NHWC
for (const op of ['add', 'sub', 'mul']) {
  add({ op, label: 'same', inputs: [act([2, 8, 5, 5], 70), act([2, 8, 5, 5], 71)], outputs: [aout([2, 8, 5, 5])], modes: [...NHWC, ...LOW], tol: [EXACT, B1] });
  add({ op, label: 'x·[N,C,1,1]', inputs: [act([2, 8, 5, 5], 72), act([2, 8, 1, 1], 73)], outputs: [aout([2, 8, 5, 5])], modes: [...NHWC, ...LOW], tol: [EXACT, B1] });
  add({ op, label: 'x+[N,1,H,W]', inputs: [act([2, 8, 5, 5], 74), act([2, 1, 5, 5], 75)], outputs: [aout([2, 8, 5, 5])], modes: NHWC, tol: [EXACT, B1] });
}

// pooling: the backward's indices come from the CPU forward; the NHWC backward needs the window
const POOLS: [number[], Record<string, unknown>][] = [
  [[2, 12, 9, 9], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: false }],
  [[1, 16, 14, 13], { kernel: [3, 3], stride: [2, 2], padding: [0, 0], ceil_mode: true }],
];
POOLS.forEach(([xs, attrs], i) => {
  const o = (h: number) => {
    const [k, s, p] = [3, 2, (attrs.padding as number[])[0]];
    let v = Math.floor((h + 2 * p - k + (attrs.ceil_mode ? s - 1 : 0)) / s) + 1;
    if (attrs.ceil_mode && (v - 1) * s >= h + p) v--;
    return v;
  };
  const ys = [xs[0], xs[1], o(xs[2]), o(xs[3])];
  const x = act(xs, 90 + i, -4, 4);
  add({ op: 'maxpool2d', label: `${xs}`, inputs: [x], outputs: [aout(ys), { shape: ys, kind: 'idx' }], attrs, modes: NHWC, tol: [EXACT, EXACT] });
  const idx = skip ? [] : runOp('cpu', 'maxpool2d', [{ shape: xs, data: values(x, NHWC[1]) }], [{ shape: ys }, { shape: ys, dtype: 'int32' }], attrs)[1];
  add({ op: 'maxpool2d_bwd', label: `${xs}`, inputs: [act(ys, 92 + i), { shape: ys, kind: 'idx', data: idx }], outputs: [aout(xs)], attrs, modes: NHWC, tol: [EXACT, B1] });
  const a2 = { ...attrs, count_include_pad: i === 0 };
  add({ op: 'avgpool2d', label: `${xs}`, inputs: [act(xs, 94 + i)], outputs: [aout(ys)], attrs: a2, modes: NHWC, tol: [{ atol: 1e-6, rtol: 1e-5 }, B1] });
  add({ op: 'avgpool2d_bwd', label: `${xs}`, inputs: [act(ys, 96 + i)], outputs: [aout(xs)], attrs: a2, modes: NHWC, tol: [{ atol: 1e-6, rtol: 1e-5 }, B1] });
});

// reductions read bf16 / NHWC and write fp32; expand and affine
for (const [axes, keepdim] of [[[2, 3], true], [[0, 2, 3], false], [[0], true], [[2, 3], false]] as [number[], boolean][]) {
  const xs = [3, 24, 5, 6];
  const ys = xs.flatMap((d, i) => (axes.includes(i) ? (keepdim ? [1] : []) : [d]));
  const o: Operand = { shape: ys, kind: ys.length === 4 ? 'map32' : 'f32' };
  for (const op of ['sum', 'mean'])
    add({ op, label: `axes ${axes}${keepdim ? ' keepdim' : ''}`, inputs: [act(xs, 76)], outputs: [o], attrs: { axes, keepdim }, modes: [...NHWC, ...LOW], tol: [RED, RED] });
}
add({ op: 'expand', label: '[N,C,1,1] -> map', inputs: [act([3, 24, 1, 1], 77)], outputs: [aout([3, 24, 5, 6])], modes: [...NHWC, ...LOW], tol: [EXACT, EXACT] });
add({ op: 'expand', label: '[C,1,1] -> map', inputs: [par([24, 1, 1], 78)], outputs: [aout([3, 24, 5, 6])], modes: [{ dtype: 'float32', layout: 'nhwc' }], tol: [EXACT, EXACT] });
add({ op: 'affine', label: 'bf16', inputs: [act([999], 79)], outputs: [aout([999])], attrs: { alpha: -2.5, beta: 0.75 }, modes: LOW, tol: [EXACT, B1] });

add({ op: 'global_avgpool', label: '[4,40,7,7]', inputs: [act([4, 40, 7, 7], 80)], outputs: [aout([4, 40, 1, 1])], modes: NHWC, tol: [RED, B1] });
add({ op: 'global_avgpool_bwd', label: '[4,40,7,7]', inputs: [act([4, 40, 1, 1], 81)], outputs: [aout([4, 40, 7, 7])], modes: NHWC, tol: [EXACT, B1] });
add({ op: 'concat', label: 'channels', inputs: [act([2, 3, 4, 4], 82), act([2, 5, 4, 4], 83)], outputs: [aout([2, 8, 4, 4])], attrs: { axis: 1 }, modes: NHWC, tol: [EXACT, EXACT] });
add({ op: 'concat', label: 'batch', inputs: [act([1, 6, 3, 3], 84), act([2, 6, 3, 3], 85)], outputs: [aout([3, 6, 3, 3])], attrs: { axis: 0 }, modes: NHWC, tol: [EXACT, EXACT] });
add({ op: 'split', label: 'channels', inputs: [act([2, 8, 4, 4], 86)], outputs: [aout([2, 3, 4, 4]), aout([2, 5, 4, 4])], attrs: { axis: 1 }, modes: NHWC, tol: [EXACT, EXACT] });
add({ op: 'channel_shuffle', label: 'g=2', inputs: [act([2, 116, 3, 3], 87)], outputs: [aout([2, 116, 3, 3])], attrs: { groups: 2 }, modes: [...NHWC, ...LOW], tol: [EXACT, EXACT] });

/** Host numbers of an operand as the device will hold them (bf16-rounded activations in bf16 modes). */
function values(o: Operand, m: Mode): number[] {
  const d = o.data ?? new Array<number>(n(o.shape)).fill(0);
  if (o.kind !== 'act' || m.dtype === 'float32') return d;
  const f = Float32Array.from(d);
  roundBf16(f);
  return Array.from(f);
}

function runCpu(c: Case, m: Mode): number[][] {
  const io = (o: Operand) => ({ shape: o.shape, dtype: o.kind === 'idx' ? ('int32' as const) : ('float32' as const), data: values(o, m) });
  return runOp('cpu', c.op, c.inputs.map(io), c.outputs.map(io), c.attrs);
}

/** The device run: activations converted on the device, the op in the mode, outputs converted back. */
function runDevice(c: Case, m: Mode): number[][] {
  const nat = native();
  const ids: number[] = [];
  const alloc = (shape: number[], dtype: 'float32' | 'bfloat16' | 'int32') => {
    const id = nat.alloc(shape, dtype, CUDA_DEVICE);
    ids.push(id);
    return id;
  };
  // an operand of `kind` between fp32 NCHW and the mode's form, in either direction
  const stored = (kind: Operand['kind']): Mode => ({ dtype: kind === 'act' ? m.dtype : 'float32', layout: m.layout });
  const convert = (src: number, shape: number[], from: Mode, to: Mode, int = false) => {
    const dst = alloc(shape, int ? 'int32' : to.dtype);
    const four = shape.length === 4;
    nat.run(four ? 'reorder' : 'cast', [src], [dst], four ? { from: from.layout, to: to.layout } : {});
    return dst;
  };
  const f32: Mode = { dtype: 'float32', layout: 'nchw' };
  try {
    const place = (o: Operand) => {
      const id = alloc(o.shape, o.kind === 'idx' ? 'int32' : 'float32');
      if (n(o.shape)) nat.upload(id, o.kind === 'idx' ? Int32Array.from(values(o, m)) : Float32Array.from(values(o, m)));
      return o.kind === 'f32' ? id : convert(id, o.shape, f32, stored(o.kind), o.kind === 'idx');
    };
    const ins = c.inputs.map(place), outs = c.outputs.map(place);
    nat.run(c.op, ins, outs, { ...(c.attrs ?? {}), ...(m.layout === 'nhwc' ? { layout: 'nhwc' } : {}) } as never);
    return outs.map((id, i) => {
      const k = c.outputs[i].kind;
      const back = k === 'f32' ? id : convert(id, c.outputs[i].shape, stored(k), f32, k === 'idx');
      return Array.from(nat.download(back) as ArrayLike<number>);
    });
  } finally {
    for (const id of ids) nat.free(id);
  }
}

if (skip) {
  test('bf16 / NHWC ops vs cpu', () => console.log(`  [skip] bf16 / NHWC ops vs cpu: ${skip}`));
} else {
  for (const c of cases)
    for (const m of c.modes) {
      test(`${c.op} ${c.label} ${m.dtype} ${m.layout}: cuda = cpu`, () => {
        const ref = runCpu(c, m);
        if (dry) return; // the CPU has no bf16 / NHWC kernels: the cases themselves ran
        const got = runDevice(c, m);
        const tol = m.dtype === 'float32' ? c.tol[0] : c.tol[1];
        got.forEach((g, i) => {
          const { ratio, at } = closeness(g, ref[i], tol.atol, tol.rtol);
          assert.ok(ratio <= 1, `output ${i}: [${at}] cuda ${g[at]} vs cpu ${ref[i][at]} (${ratio.toFixed(2)}× the tolerance ${JSON.stringify(tol)})`);
        });
      });
    }
}

test('every op the passes send to CUDA in bf16 or NHWC has a case here', () => {
  const covered = new Set(cases.map((c) => c.op));
  const missing = [...new Set([...CUDA_LOW_OPS, ...CUDA_NHWC_OPS])].filter((op) => op !== 'reshape' && op !== 'copy' && !covered.has(op));
  assert.equal(missing, [], `no case for ${missing.join(', ')}`);
});

test.run();
