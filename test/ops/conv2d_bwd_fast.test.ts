/**
 * conv2d_bwd_data of stride-1 convs run as a forward convolution of dy with the kernel
 * flipped and transposed (native/cpu/conv2d_bwd_fast.cc): the shapes route it to each
 * forward kernel — Winograd F(4,3) (maps from 16×16) and F(2,3), the stem kernel (≤ 4
 * output channels of the forward's adjoint), the direct grouped kernel, depthwise (one
 * output channel per group) — and past its edges to the old path (padding wider than the
 * kernel radius, dilation, non-square kernels). Each against the float64 adjoint
 * (test/ref/conv2d.ts) over odd sizes, batch 1 and padding 0–3, per GEMM ISA and under
 * MDMT_CPU_ISA caps; conv2d_bwd_filter by Winograd F(4,3)/F(2,3) (conv2d_bwd_winograd.cc) the
 * same way, and the depthwise one with per-tap row accumulators (conv2d_bwd_depthwise.cc); the
 * conv2d vjp (x and w) by finite differences on Winograd-sized and depthwise shapes.
 * Tolerance: the float32 bound of conv2d.test.ts, ×4 for F(4,3) (its transforms' growth).
 */
import { test } from 'uvu';
import { native } from '../../ts/native/binding';
import { conv2d, conv2dBwdData, conv2dBwdFilter, GemmIsa } from '../../ts/ops/conv2d';
import { tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, gradcheck, numel, onThreads, Rng, t32 } from '../helpers';
import { conv2dBwdDataRef, conv2dBwdFilterRef, conv2dRef, ConvCfg, convOutShape } from '../ref/conv2d';
import { rerunUnderIsaCaps } from './_isa';

const on = deviceAvailable('conv2d');

interface Case extends ConvCfg {
  label: string;
  x: number[];
  w: number[];
}
const mk = (label: string, x: number[], w: number[], o: Partial<ConvCfg> = {}): Case => ({
  label, x, w, stride: o.stride ?? [1, 1], padding: o.padding ?? [1, 1], dilation: o.dilation ?? [1, 1], groups: o.groups ?? 1,
});

const CASES: Case[] = [
  mk('winograd4, odd H×W', [2, 16, 17, 19], [20, 16, 3, 3]),
  mk('winograd4, batch 1', [1, 24, 16, 16], [16, 24, 3, 3]),
  mk('winograd4, tile rows of 8 (two per AVX-512 register), 5 per image', [2, 16, 20, 32], [16, 16, 3, 3]),
  mk('winograd2 (9×11 maps)', [3, 32, 9, 11], [17, 32, 3, 3]),
  mk('winograd2, 40 in / 36 out (weights flipped in 32×32 blocks, tails both ways)', [2, 40, 12, 12], [36, 40, 3, 3]),
  mk('winograd2, 20 in / 17 out (channel tails of 8- and 16-lane groups)', [2, 20, 12, 12], [17, 20, 3, 3]),
  mk('winograd4, 20 in / 18 out (channel tails)', [1, 20, 16, 16], [18, 20, 3, 3]),
  mk('winograd, padding 0 (adjoint pads 2)', [2, 16, 18, 18], [16, 16, 3, 3], { padding: [0, 0] }),
  mk('winograd, padding 2 (adjoint pads 0)', [2, 16, 15, 16], [18, 16, 3, 3], { padding: [2, 2] }),
  mk('winograd, asymmetric padding', [2, 16, 17, 16], [16, 16, 3, 3], { padding: [0, 1] }),
  mk('stem kernel (3 channels of dy)', [2, 12, 20, 21], [3, 12, 5, 5], { padding: [2, 2] }),
  mk('direct grouped g=4', [2, 32, 14, 13], [32, 8, 3, 3], { groups: 4 }),
  mk('depthwise adjoint (one output channel per group)', [2, 8, 12, 11], [4, 2, 3, 3], { groups: 4 }),
  mk('padding wider than the radius (old path)', [1, 16, 16, 16], [16, 16, 3, 3], { padding: [3, 3] }),
  mk('dilation 2 grouped (old path)', [1, 16, 13, 15], [16, 4, 3, 3], { groups: 4, dilation: [2, 2], padding: [2, 2] }),
  mk('3×2 kernel (old path)', [2, 16, 16, 17], [16, 16, 3, 2], { padding: [1, 0] }),
];

/** auto, then on the CPU each lower GEMM ISA this machine runs (the `isa` attribute forces it per call) */
function gemmIsas(): (GemmIsa | undefined)[] {
  const cpu = (process.env.MDMT_DEVICE ?? 'cpu') === 'cpu';
  const best = native().devices().find((x) => x.name === 'cpu')!.props.isa;
  return [undefined, ...(cpu ? ['generic' as const, ...(best !== 'generic' ? ['avx2' as const] : [])] : [])];
}

const tol = (c: Case) => ({ atol: 4 * (1e-5 + 2e-7 * (c.w[0] / c.groups) * c.w[2] * c.w[3]), rtol: 1e-5 });
const cfgOf = (c: Case) => ({ stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });

test('conv2d_bwd_data as a forward conv = the float64 adjoint, every kernel it reaches and each GEMM ISA', () => {
  if (!on) return;
  const isas = gemmIsas();
  const rng = new Rng(211);
  for (const c of CASES) {
    const ys = convOutShape(c.x, c.w, c);
    const dy = f32(rng.array(numel(ys))), w = f32(rng.array(numel(c.w)));
    const ref = conv2dBwdDataRef(dy, c.x, w, c.w, c);
    for (const isa of isas) {
      const dx = tidy(() => conv2dBwdData(t32(dy, ys), t32(w, c.w), c.x, { ...cfgOf(c), ...(isa ? { isa } : {}) }).toArray());
      assertClose(dx, ref, tol(c), `${c.label} ${isa ?? 'auto'}`);
    }
  }
});

const STEM_FILTER: Case[] = [
  mk('stem 7×7/2 3→64', [2, 3, 23, 21], [64, 3, 7, 7], { stride: [2, 2], padding: [3, 3] }),
  mk('stem 3×3/2 3→10, rows of 17', [3, 3, 34, 33], [10, 3, 3, 3], { stride: [2, 2] }),
  mk('stem 5×5 stride 1, one channel, padding 0', [2, 1, 12, 40], [8, 1, 5, 5], { padding: [0, 0] }),
  mk('stem stride (2, 1), 4 channels, 3×5, asymmetric padding', [1, 4, 15, 20], [12, 4, 3, 5], { stride: [2, 1], padding: [1, 2] }),
  mk('stem 3×3 on 130×16 maps (two bands of rows)', [2, 2, 130, 16], [8, 2, 3, 3]),
];

// Winograd conv2d_bwd_filter (native/cpu/conv2d_bwd_winograd.cc): F(4,3) from 16×16 outputs,
// F(2,3) below, odd sizes (partial tiles), padding 0–2 and asymmetric, batch 1, more tiles
// than one chunk, 4×4 maps at batch 8 (128 output pixels, the least that takes Winograd);
// at batch 4 they stay on im2col + GEMM. Error bound: the relative error of the
// forward's Winograd (conv2d_act.test.ts: 2e-5 of the scale for F(4,3)), on dw's scale.
const FILTER: Case[] = [
  mk('F(4,3), odd H×W', [2, 16, 17, 19], [20, 16, 3, 3]),
  mk('F(4,3), tile rows of 8 (two per AVX-512 register), 5 per image', [3, 16, 20, 31], [16, 16, 3, 3]),
  mk('F(2,3), tile rows of 8 (two per AVX-512 register), 15 columns', [2, 24, 9, 15], [20, 24, 3, 3]),
  mk('F(4,3), batch 1, padding 0', [1, 24, 18, 18], [16, 24, 3, 3], { padding: [0, 0] }),
  mk('F(4,3), padding 2', [2, 16, 15, 16], [18, 16, 3, 3], { padding: [2, 2] }),
  mk('F(4,3), asymmetric padding', [2, 17, 16, 21], [33, 17, 3, 3], { padding: [0, 1] }),
  mk('F(2,3) (9×11 maps)', [3, 32, 9, 11], [17, 32, 3, 3]),
  mk('F(2,3), 8×8 maps', [8, 64, 8, 8], [40, 64, 3, 3]),
  mk('F(4,3), tiles over two chunks (576 > 448 per chunk)', [4, 64, 48, 48], [64, 64, 3, 3]),
  mk('F(2,3), 4×4 maps at batch 8', [8, 32, 4, 4], [32, 32, 3, 3]),
  mk('4×4 maps at batch 4 (im2col + GEMM)', [4, 32, 4, 4], [32, 32, 3, 3]),
  // depthwise with per-tap row accumulators (conv2d_bwd_depthwise.cc), and past its row limit
  mk('depthwise 8×8 maps, batch 8', [8, 40, 8, 8], [40, 1, 3, 3], { groups: 40 }),
  mk('depthwise 5×5 stride 2, odd sizes', [3, 12, 13, 11], [12, 1, 5, 5], { groups: 12, stride: [2, 2], padding: [2, 2] }),
  mk('depthwise multiplier 2 on 1×1 maps, batch 1', [1, 16, 1, 1], [32, 1, 3, 3], { groups: 16 }),
  mk('depthwise dilation 2, asymmetric padding', [2, 8, 9, 10], [8, 1, 3, 3], { groups: 8, dilation: [2, 2], padding: [2, 1] }),
  mk('depthwise rows of 300 (plane kernel)', [1, 2, 3, 300], [2, 1, 3, 3], { groups: 2 }),
  // rows of ≤ 32 outputs: per-tap register accumulators on AVX-512 (two registers past 16)
  mk('depthwise 3×3 rows of 24 (two registers a tap)', [2, 6, 24, 24], [6, 1, 3, 3], { groups: 6, padding: [1, 1] }),
  mk('depthwise 3×3 stride 2, rows of 23 (two registers, even lanes)', [3, 5, 21, 45], [5, 1, 3, 3], { groups: 5, stride: [2, 2], padding: [1, 1] }),
  mk('depthwise 5×5 rows of exactly 16, batch 1', [1, 7, 16, 16], [7, 1, 5, 5], { groups: 7, padding: [2, 2] }),
  mk('depthwise 3×3 on 4×4 maps, multiplier 2', [4, 3, 4, 4], [6, 1, 3, 3], { groups: 3, padding: [1, 1] }),
  // ≤ 4 input channels: the stem kernel's direct sums (conv2d_stem.cc), blocks of channels ×
  // taps with partial last blocks (147 and 27 taps, 10 and 12 channels), column tails and
  // images taller than one band (~2048 outputs)
  ...STEM_FILTER,
];

test('conv2d_bwd_filter by Winograd and depthwise by row accumulators = the float64 adjoint (each ISA)', () => {
  if (!on) return;
  const isas = gemmIsas();
  const rng = new Rng(213);
  for (const c of FILTER) {
    const ys = convOutShape(c.x, c.w, c);
    const dy = f32(rng.array(numel(ys))), x = f32(rng.array(numel(c.x)));
    const ref = conv2dBwdFilterRef(dy, x, c.x, c.w, c);
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (const isa of isas) {
      const dw = tidy(() => conv2dBwdFilter(t32(dy, ys), t32(x, c.x), c.w, { ...cfgOf(c), ...(isa ? { isa } : {}) }).toArray());
      let e = 0;
      for (let i = 0; i < dw.length; i++) e = Math.max(e, Math.abs(dw[i] - ref[i]));
      if (process.env.MDMT_TEST_VERBOSE) console.log(`  [info] ${c.label} ${isa ?? 'auto'}: max|Δ|/max|dw| = ${(e / scale).toExponential(2)}`);
      assertClose(dw, ref, { atol: 2e-5 * scale, rtol: 0 }, `${c.label} ${isa ?? 'auto'} bwd_filter`);
    }
  }
});

test('conv2d_bwd_filter by the stem kernel on 1–3 threads (runs of channel blocks) = the float64 adjoint', () => {
  if (!on) return;
  const rng = new Rng(215);
  for (const c of [STEM_FILTER[0], STEM_FILTER[1]]) {
    const ys = convOutShape(c.x, c.w, c);
    const dy = f32(rng.array(numel(ys))), x = f32(rng.array(numel(c.x)));
    const ref = conv2dBwdFilterRef(dy, x, c.x, c.w, c);
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    onThreads([1, 2, 3], (t) => {
      const dw = tidy(() => conv2dBwdFilter(t32(dy, ys), t32(x, c.x), c.w, cfgOf(c)).toArray());
      assertClose(dw, ref, { atol: 2e-5 * scale, rtol: 0 }, `${c.label}, ${t} threads`);
    });
  }
});

test('conv2d_bwd_filter by the stem kernel over images in groups (column phases past 16 MB) = the float64 adjoint', () => {
  if (!on) return;
  // 4 × 514 × 2 × 258 floats of phases per 512² RGBA image: 3 images a group, then 1
  const c = mk('stem 3×3/2 4→8 on 512×512, batch 4', [4, 4, 512, 512], [8, 4, 3, 3], { stride: [2, 2] });
  const rng = new Rng(216);
  const ys = convOutShape(c.x, c.w, c);
  const dy = f32(rng.array(numel(ys))), x = f32(rng.array(numel(c.x)));
  const ref = conv2dBwdFilterRef(dy, x, c.x, c.w, c);
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const dw = tidy(() => conv2dBwdFilter(t32(dy, ys), t32(x, c.x), c.w, cfgOf(c)).toArray());
  assertClose(dw, ref, { atol: 2e-5 * scale, rtol: 0 }, c.label);
});

// Winograd with weights too large for the cache (α²·K·C ≥ 1 Mi floats) on calls of one tile
// chunk: transformed block by block between the GEMMs, one block per pool slot
// (conv2d_winograd.cc gemm_transforming), bwd_data's kernels read rotated and transposed in
// place. C not a multiple of 16, a partial last block; 1–3 threads (slots).
test('Winograd transforming the weights block by block (forward and bwd_data) = the float64 reference, 1–3 threads', () => {
  if (!on) return;
  const rng = new Rng(214);
  for (const c of [mk('F(2,3), 264 out, 250 in, 5×5 maps at batch 6', [6, 250, 5, 5], [264, 250, 3, 3]),
    mk('F(4,3), 250 out, 130 in, 17×17 map', [1, 130, 17, 17], [250, 130, 3, 3])]) {
    const ys = convOutShape(c.x, c.w, c);
    const x = f32(rng.array(numel(c.x))), w = f32(rng.array(numel(c.w))), dy = f32(rng.array(numel(ys)));
    const y0 = conv2dRef(x, c.x, w, c.w, null, c), dx0 = conv2dBwdDataRef(dy, c.x, w, c.w, c);
    onThreads([1, 2, 3], (t) => {
      const y = tidy(() => conv2d(t32(x, c.x), t32(w, c.w), null, cfgOf(c)).toArray());
      assertClose(y, y0, { atol: 4 * (1e-5 + 2e-7 * c.w[1] * 9), rtol: 1e-5 }, `${c.label} forward, ${t} threads`);
      const dx = tidy(() => conv2dBwdData(t32(dy, ys), t32(w, c.w), c.x, cfgOf(c)).toArray());
      assertClose(dx, dx0, tol(c), `${c.label} bwd_data, ${t} threads`);
    });
  }
});

test('conv2d vjp on Winograd-sized 3×3 convs (dx through the forward kernel, dw by Winograd) = finite differences', () => {
  if (!on) return;
  const rng = new Rng(212);
  for (const c of [mk('3x3 pad 1', [1, 16, 16, 16], [16, 16, 3, 3]), mk('grouped g=2 pad 0', [1, 16, 15, 15], [8, 8, 3, 3], { groups: 2, padding: [0, 0] }),
    mk('depthwise stride 2', [2, 6, 7, 8], [6, 1, 3, 3], { groups: 6, stride: [2, 2] })]) {
    gradcheck({
      label: `conv2d ${c.label}`, rng, samples: 16,
      inputs: [{ data: rng.array(numel(c.x)), shape: c.x }, { data: rng.array(numel(c.w)), shape: c.w }],
      engine: ([x, w]) => conv2d(x, w, null, cfgOf(c)),
      ref: ([x, w]) => conv2dRef(x, c.x, w, c.w, null, c),
    });
  }
});

rerunUnderIsaCaps(__filename, 'conv2d_bwd_fast');
test.run();
