/**
 * Depthwise convolution (groups = C) on the CPU, every ISA's kernels forced by the `isa`
 * attribute (generic, avx2, and the machine's best: AVX-512 where present), against the
 * float64 definition (test/ref/conv2d.ts): the forward (conv2d, and conv2d_act with bias,
 * residual and ReLU6 fused), conv2d_bwd_data and conv2d_bwd_filter, over the geometries
 * that pick each kernel's branches — rows of 4, 7, 8, 16, 17, 30 and 33 outputs (vector
 * tails, one to four registers per row, the row loops past that), stride 1, 2 (even-lane
 * loads, the data gradient's even-lane scatter in blocks of 16 and 8 with a scalar tail) and
 * 3 (the portable loops), 3×3 and 5×5,
 * dilation 2, strides (2, 1) and (1, 2), padding 0 to wider than the kernel's radius,
 * channel multiplier 2, and a row of 300 outputs (past the filter gradient's per-row
 * accumulators); then 60 seeded random geometries between them.
 *
 * Tolerance: float32 against float64 for sums of at most 25 products (forward, data
 * gradient) or N·P·Q products (filter gradient) of |values| ≤ 1:
 * atol = 1e-5 + 2e-7 · terms, rtol = 1e-5.
 */
import { test } from 'uvu';
import { conv2d, conv2dBwdData, conv2dBwdFilter, GemmIsa } from '../../ts/ops/conv2d';
import { conv2dAct } from '../../ts/ops/conv2d_act';
import { tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, numel, Rng, t32 } from '../helpers';
import { conv2dBwdDataRef, conv2dBwdFilterRef, conv2dRef, ConvCfg, convOutShape } from '../ref/conv2d';
import { cpuIsa } from './_isa';

const on = deviceAvailable('conv2d') && (!process.env.MDMT_DEVICE || process.env.MDMT_DEVICE === 'cpu');

interface Case extends ConvCfg { label: string; x: number[]; w: number[] }
const dw = (label: string, x: number[], k: number, o: Partial<ConvCfg> & { mult?: number } = {}): Case => ({
  label, x, w: [x[1] * (o.mult ?? 1), 1, k, k],
  stride: o.stride ?? [1, 1], padding: o.padding ?? [(k - 1) / 2, (k - 1) / 2], dilation: o.dilation ?? [1, 1], groups: x[1],
});
const CASES: Case[] = [
  dw('3x3 on 8x8 (one register per row)', [2, 3, 8, 8], 3),
  dw('3x3 on 4x4 (half a register)', [2, 3, 4, 4], 3),
  dw('3x3 on 5x7', [2, 3, 5, 7], 3),
  dw('3x3 on 9x17 (tail of 1)', [1, 3, 9, 17], 3),
  dw('3x3 on 16x16', [2, 2, 16, 16], 3),
  dw('3x3 on 5x30 (four registers per row)', [2, 2, 5, 30], 3),
  dw('3x3 on 6x33', [1, 2, 6, 33], 3),
  dw('3x3 pad 0 on 10x10', [2, 3, 10, 10], 3, { padding: [0, 0] }),
  dw('3x3 stride 2 on 16x16 (rows of 8)', [2, 3, 16, 16], 3, { stride: [2, 2] }),
  dw('3x3 stride 2 on 8x8 (rows of 4)', [2, 3, 8, 8], 3, { stride: [2, 2] }),
  dw('3x3 stride 2 on 17x13', [1, 3, 17, 13], 3, { stride: [2, 2] }),
  dw('3x3 stride 2 on 33x34', [1, 2, 33, 34], 3, { stride: [2, 2] }),
  dw('3x3 stride 2 pad 0 on 16x17', [1, 2, 16, 17], 3, { stride: [2, 2], padding: [0, 0] }),
  dw('3x3 stride 2 on 5x54 (rows of 27: 16 + 8 + 3)', [1, 2, 5, 54], 3, { stride: [2, 2] }),
  dw('3x3 stride 2, dilation 2 on 9x40', [1, 2, 9, 40], 3, { stride: [2, 2], dilation: [2, 2], padding: [2, 2] }),
  dw('5x5 on 8x8', [2, 3, 8, 8], 5),
  dw('5x5 on 11x10', [1, 3, 11, 10], 5),
  dw('5x5 stride 2 on 16x16', [1, 3, 16, 16], 5, { stride: [2, 2] }),
  dw('3x3 dilation 2 on 9x9', [2, 2, 9, 9], 3, { dilation: [2, 2], padding: [2, 2] }),
  dw('3x3 multiplier 2 on 8x8', [2, 3, 8, 8], 3, { mult: 2 }),
  dw('3x3 stride 3 on 10x10 (portable loops)', [1, 3, 10, 10], 3, { stride: [3, 3] }),
  dw('3x3 stride (1, 2), padding (2, 3)', [1, 3, 4, 5], 3, { stride: [1, 2], padding: [2, 3] }),
  dw('3x3 stride (2, 1) on 9x12', [2, 2, 9, 12], 3, { stride: [2, 1] }),
  dw('5x5 stride (2, 1), dilation 2 on 13x11', [1, 2, 13, 11], 5, { stride: [2, 1], dilation: [2, 2], padding: [4, 4] }),
  dw('3x3 on 3x300 (rows past 256)', [1, 2, 3, 300], 3),
];
const tol = (terms: number) => ({ atol: 1e-5 + 2e-7 * terms, rtol: 1e-5 });
const cfgOf = (c: Case) => ({ stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });
const isas = (): GemmIsa[] => ['generic', ...(cpuIsa() !== 'generic' ? ['avx2' as const] : []), ...(cpuIsa() === 'avx512f' ? ['auto' as const] : [])];

/** Each case with fresh float32-valued inputs (x, w, b, and `t` of the output's shape: dy or the residual). */
function forCases(seed: number, f: (c: Case, d: { ys: number[]; x: Float64Array; w: Float64Array; b: Float64Array; t: Float64Array }) => void): void {
  const rng = new Rng(seed);
  for (const c of CASES) {
    const ys = convOutShape(c.x, c.w, c);
    f(c, { ys, x: f32(rng.array(numel(c.x))), w: f32(rng.array(numel(c.w))), b: f32(rng.array(c.w[0])), t: f32(rng.array(numel(ys))) });
  }
}

/** conv2d (with bias b, or none), conv2d_bwd_data and conv2d_bwd_filter of case c under every ISA against float64. */
function checkPasses(c: Case, ys: number[], x: Float64Array, w: Float64Array, b: Float64Array | null, dy: Float64Array): void {
  const y = conv2dRef(x, c.x, w, c.w, b, c), dx = conv2dBwdDataRef(dy, c.x, w, c.w, c), dwt = conv2dBwdFilterRef(dy, x, c.x, c.w, c);
  const taps = c.w[2] * c.w[3];
  for (const isa of isas()) {
    const o = { ...cfgOf(c), isa };
    const at = `${c.label}, isa ${isa}`;
    assertClose(tidy(() => conv2d(t32(x, c.x), t32(w, c.w), b ? t32(b, [c.w[0]]) : null, o).toArray()), y, tol(taps), `${at}: forward`);
    assertClose(tidy(() => conv2dBwdData(t32(dy, ys), t32(w, c.w), c.x, o).toArray()), dx, tol(taps * (c.w[0] / c.x[1])), `${at}: bwd_data`);
    assertClose(tidy(() => conv2dBwdFilter(t32(dy, ys), t32(x, c.x), c.w, o).toArray()), dwt, tol(ys[0] * ys[2] * ys[3]), `${at}: bwd_filter`);
  }
}

test('depthwise conv2d, conv2d_bwd_data, conv2d_bwd_filter: every ISA = float64 definition over the geometries', () => {
  if (!on) return;
  forCases(611, (c, { ys, x, w, b, t: dy }) => checkPasses(c, ys, x, w, b, dy));
});

// Geometries drawn at random (seeded): the fixed cases above name the branches the kernels
// had when they were written; a draw also reaches widths, strides and dilations between them
// (the AVX-512 filter gradient lost lanes on stride-2 rows of 25–31 outputs, which no fixed
// case had). Maps up to 72 wide (past the 32-output rows of the channel kernels),
// 3×3 / 5×5 / 7×7, stride 1–3 and dilation 1–2 per axis, padding 0..k.
function randomCases(seed: number, count: number): Case[] {
  const rng = new Rng(seed);
  const out: Case[] = [];
  while (out.length < count) {
    const k = rng.pick([3, 3, 5, 7]), sh = rng.pick([1, 2, 2, 3]), sw = rng.next() < 0.7 ? sh : rng.pick([1, 2, 3]);
    const dh = rng.pick([1, 1, 2]), dwl = rng.next() < 0.8 ? dh : rng.pick([1, 2]), ph = rng.int(0, k), pw = rng.next() < 0.7 ? ph : rng.int(0, k);
    const x = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 20), rng.int(1, 72)];
    const c = dw(`random #${out.length}`, x, k, { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dwl], mult: rng.pick([1, 1, 2]) });
    const ys = x[2] + 2 * ph - dh * (k - 1) - 1 >= 0 && x[3] + 2 * pw - dwl * (k - 1) - 1 >= 0 ? convOutShape(c.x, c.w, c) : null;
    if (ys) out.push({ ...c, label: `${c.label}: x [${x.join(', ')}], ${k}x${k}, stride ${sh}x${sw}, padding ${ph}x${pw}, dilation ${dh}x${dwl}, mult ${c.w[0] / x[1]}` });
  }
  return out;
}

test('depthwise conv2d, conv2d_bwd_data, conv2d_bwd_filter: every ISA = float64 definition on 60 random geometries', () => {
  if (!on) return;
  const rng = new Rng(613);
  for (const c of randomCases(614, 60)) {
    const ys = convOutShape(c.x, c.w, c);
    checkPasses(c, ys, f32(rng.array(numel(c.x))), f32(rng.array(numel(c.w))), null, f32(rng.array(numel(ys))));
  }
});

test('depthwise conv2d_act (bias + residual + relu6 fused): every ISA = float64 definition over the geometries', () => {
  if (!on) return;
  forCases(612, (c, { ys, x, w, b, t: r }) => {
    const y = conv2dRef(x, c.x, w, c.w, b, c).map((v, i) => Math.min(Math.max(v + r[i], 0), 6));
    for (const isa of isas()) {
      const got = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), t32(b, [c.w[0]]), { ...cfgOf(c), isa, act: 'relu6', residual: t32(r, ys) }).toArray());
      assertClose(got, y, tol(c.w[2] * c.w[3]), `${c.label}, isa ${isa}: conv2d_act`);
    }
  });
});

test.run();
