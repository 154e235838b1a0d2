/**
 * conv2d_act = act(conv2d(x, w) + b + r) against the float64 definition (test/ref/conv2d.ts
 * plus the activation), every algorithm forced in turn — gemm (conv2d + epilogue pass),
 * Winograd F(2,3) and F(4,3), the direct stem and depthwise kernels — and 'auto', over a sweep of 3×3 stride-1 shapes: odd sizes
 * that leave partial tiles, padding 0/1/2, batch 1, channel counts that are not multiples
 * of the 16-lane groups, more tiles than one chunk; then every activation with and without
 * the residual, the vjp by finite differences, and the errors. Each ISA path runs through
 * MDMT_CPU_ISA child processes (_isa.ts).
 *
 * Tolerance: float32 against float64 for a sum of C·9 products of |values| ≤ 1,
 * atol = 1e-5 + f·2e-7·C·9 with f = 1 for gemm and F(2,3) and f = 4 for F(4,3), whose
 * transforms (entries up to 8) amplify the rounding; the largest error seen relative to
 * the direct method's bound is printed by the Winograd error test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { add } from '../../ts/ops/elementwise';
import { conv2d } from '../../ts/ops/conv2d';
import { ConvAlgo, conv2dAct, ConvAct, Conv2dActOptions, winogradWeights } from '../../ts/ops/conv2d_act';
import { hardswish, relu, relu6, sigmoid, silu } from '../../ts/ops/activations';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { conv2dBwdDataRef, conv2dBwdFilterRef, conv2dRef, convOutShape } from '../ref/conv2d';
import { activationRefs } from '../ref/activations';
import { rerunUnderIsaCaps } from './_isa';

const on = deviceAvailable('conv2d_act') && process.env.MDMT_DEVICE !== 'cuda';

interface Case { label: string; x: number[]; w: number[]; pad: number; tileBlock?: number; stride?: number }
const CASES: Case[] = [
  { label: 'odd map, partial tiles both ways', x: [2, 5, 11, 9], w: [7, 5, 3, 3], pad: 1 },
  { label: 'batch 1, no padding', x: [1, 3, 10, 13], w: [4, 3, 3, 3], pad: 0 },
  { label: 'padding 2 (wider than the kernel radius)', x: [1, 4, 6, 7], w: [5, 4, 3, 3], pad: 2 },
  { label: '17 in / 33 out channels (lane tails)', x: [2, 17, 8, 8], w: [33, 17, 3, 3], pad: 1 },
  { label: 'one output pixel', x: [1, 2, 3, 3], w: [3, 2, 3, 3], pad: 0 },
  { label: 'tiles in chunks of 16 (rows split across chunks)', x: [3, 6, 17, 23], w: [5, 6, 3, 3], pad: 1, tileBlock: 16 },
  { label: 'ResNet-like 64 ch, 14x14', x: [1, 64, 14, 14], w: [64, 64, 3, 3], pad: 1 },
  { label: 'wide rows (AVX-512 tile-row transforms), rows split across chunks', x: [2, 5, 9, 45], w: [6, 5, 3, 3], pad: 1, tileBlock: 16 },
  { label: 'wide rows, padding 0, a tile row longer than 16 tiles', x: [1, 3, 7, 75], w: [4, 3, 3, 3], pad: 0 },
  // tile rows of exactly 8 tiles go two to a register on AVX-512 (F(4,3) on 29–32 columns,
  // F(2,3) on 15–16): pairs across images (odd tile rows per image), partial last tiles
  // and tile rows, chunks ending on half a pair
  { label: 'tile rows of 8, 5 per image (pairs across images)', x: [3, 6, 20, 32], w: [5, 6, 3, 3], pad: 1 },
  { label: 'tile rows of 8, 29 columns, 11 rows, chunks of 48 tiles', x: [3, 4, 13, 31], w: [6, 4, 3, 3], pad: 0, tileBlock: 48 },
  { label: 'tile rows of 8 for F(2,3): 15 columns, 9 rows, batch 1', x: [1, 5, 9, 15], w: [4, 5, 3, 3], pad: 1 },
];
const ALGOS: ConvAlgo[] = ['gemm', 'winograd2', 'winograd4', 'auto'];
const ACTS: ConvAct[] = ['none', 'relu', 'relu6', 'silu', 'sigmoid', 'hardswish'];

const tol = (algo: ConvAlgo, c: Case) => ({ atol: 1e-5 + (algo === 'winograd4' || algo === 'auto' ? 4 : 1) * 2e-7 * c.w[1] * 9, rtol: 1e-5 });

function reference(c: Case, x: Float64Array, w: Float64Array, b: Float64Array, r: Float64Array | null, act: ConvAct): Float64Array {
  const st = c.stride ?? 1;
  const cfg = { stride: [st, st] as [number, number], padding: [c.pad, c.pad] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
  const z = conv2dRef(x, c.x, w, c.w, b, cfg);
  const f = act === 'none' ? (v: number) => v : activationRefs[act];
  return z.map((v, i) => f(v + (r ? r[i] : 0)));
}

for (const algo of ALGOS) {
  test(`conv2d_act (${algo}): forward = float64 definition over the 3x3 sweep, with residual + relu`, () => {
    if (!on) return;
    const rng = new Rng(301);
    for (const c of CASES) {
      const ys = convOutShape(c.x, c.w, { stride: [1, 1], padding: [c.pad, c.pad], dilation: [1, 1], groups: 1 });
      const x = f32(rng.array(numel(c.x))), w = f32(rng.array(numel(c.w))), b = f32(rng.array(c.w[0])), r = f32(rng.array(numel(ys)));
      const y = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), t32(b, [c.w[0]]), { residual: t32(r, ys), padding: c.pad, act: 'relu', algo, tileBlock: c.tileBlock }).toArray());
      assertClose(y, reference(c, x, w, b, r, 'relu'), tol(algo, c), `${algo} ${c.label}`);
    }
  });
}

test('conv2d_act: every activation, with and without bias and residual (gemm and winograd4, narrow and wide rows)', () => {
  if (!on) return;
  const rng = new Rng(302);
  for (const c of [CASES[0], CASES.find((k) => k.x[3] === 45)!]) {
    const ys = convOutShape(c.x, c.w, { stride: [1, 1], padding: [c.pad, c.pad], dilation: [1, 1], groups: 1 });
    for (const algo of ['gemm', 'winograd4'] as ConvAlgo[])
      for (const act of ACTS)
        for (const withRes of [false, true]) {
          // inputs scaled so the pre-activation spans the kinks of relu6 and the tails of silu/sigmoid
          const x = f32(rng.array(numel(c.x), -2, 2)), w = f32(rng.array(numel(c.w))), r = f32(rng.array(numel(ys), -3, 3));
          const withBias = act !== 'sigmoid';
          const b = withBias ? f32(rng.array(c.w[0])) : new Float64Array(c.w[0]);
          const y = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), withBias ? t32(b, [c.w[0]]) : null, { residual: withRes ? t32(r, ys) : null, padding: c.pad, act, algo }).toArray());
          assertClose(y, reference(c, x, w, b, withRes ? r : null, act), { atol: 4 * tol(algo, c).atol, rtol: 1e-5 }, `${algo} ${act} residual=${withRes} ${c.label}`);
        }
  }
});

test('conv2d_act: 1x1 convs (GEMM with the epilogue in its tile loop, small maps, 1x1 maps) for every activation', () => {
  if (!on) return;
  const rng = new Rng(305);
  const cases: Case[] = [
    { label: '1x1, 16x17 map (GEMM epilogue), K not a multiple of the tile', x: [3, 19, 16, 17], w: [21, 19, 1, 1], pad: 0 },
    { label: '1x1, 7x7 map (conv2d + epilogue pass)', x: [2, 8, 7, 7], w: [12, 8, 1, 1], pad: 0 },
    { label: '1x1, K > 2 GEMM row blocks', x: [1, 8, 16, 16], w: [300, 8, 1, 1], pad: 0 },
    // AVX2: a shallow product on a wide map goes rows first (gemm.cc), with partial row and column panels
    { label: '1x1, shallow and wide, 2 images (rows-first tiles)', x: [2, 8, 16, 20], w: [70, 8, 1, 1], pad: 0 },
    { label: '1x1, C > 2 GEMM K slices (epilogue after the last)', x: [1, 260, 16, 16], w: [20, 260, 1, 1], pad: 0 },
    { label: '1x1 on 1x1 maps (squeeze-excitation: matrix-vector), C not a multiple of 16', x: [3, 37, 1, 1], w: [11, 37, 1, 1], pad: 0 },
    { label: '1x1 stride 2 (downsample: GEMM on the subsampled image), odd sizes', x: [3, 9, 19, 17], w: [13, 9, 1, 1], pad: 0, stride: 2 },
  ];
  for (const c of cases)
    for (const act of ACTS)
      for (const withRes of [false, true]) {
        const st = c.stride ?? 1, ys = convOutShape(c.x, c.w, { stride: [st, st], padding: [0, 0], dilation: [1, 1], groups: 1 });
        const x = f32(rng.array(numel(c.x), -2, 2)), w = f32(rng.array(numel(c.w))), b = f32(rng.array(c.w[0])), r = f32(rng.array(numel(ys), -3, 3));
        const y = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), t32(b, [c.w[0]]), { residual: withRes ? t32(r, ys) : null, act, stride: st }).toArray());
        assertClose(y, reference(c, x, w, b, withRes ? r : null, act), { atol: 4 * tol('gemm', c).atol, rtol: 1e-5 }, `${c.label} ${act} residual=${withRes}`);
      }
});

test('conv2d_act: 1x1 and depthwise convs whose outputs (> 24 MB) are written with non-temporal stores', () => {
  if (!on) return;
  const rng = new Rng(309);
  const c: Case = { label: 'streamed 1x1', x: [1, 4, 128, 1024], w: [49, 4, 1, 1], pad: 0 };
  const x = f32(rng.array(numel(c.x))), w = f32(rng.array(numel(c.w))), b = f32(rng.array(49));
  const y = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), t32(b, [49]), { act: 'relu6' }).toArray());
  assertClose(y, reference(c, x, w, b, null, 'relu6'), tol('gemm', c), c.label);
  const cfg = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 2 };
  const dx = f32(rng.array(2 * 2048 * 1600)), dw = f32(rng.array(18)), db = f32(rng.array(2));
  const dy = tidy(() => conv2dAct(t32(dx, [1, 2, 2048, 1600]), t32(dw, [2, 1, 3, 3]), t32(db, [2]), { ...cfg, act: 'relu' }).toArray());
  assertClose(dy, conv2dRef(dx, [1, 2, 2048, 1600], dw, [2, 1, 3, 3], db, cfg).map((v) => Math.max(v, 0)), { atol: 1e-5, rtol: 1e-5 }, 'streamed depthwise');
});

test('conv2d_act (stem / direct): ≤ 4 and 37 input channels, groups, kernels 1..7, stride 1/2 per axis, padding 0..3, every activation', () => {
  if (!on) return;
  const rng = new Rng(306);
  interface Stem { x: number[]; w: number[]; stride: [number, number]; pad: [number, number]; groups?: number }
  const cases: Stem[] = [
    { x: [2, 3, 37, 41], w: [13, 3, 7, 7], stride: [2, 2], pad: [3, 3] },   // ResNet stem, odd sizes, K % 12 ≠ 0
    { x: [1, 3, 33, 35], w: [25, 3, 3, 3], stride: [2, 2], pad: [1, 1] },   // MobileNet stem, batch 1
    { x: [1, 1, 20, 70], w: [8, 1, 5, 3], stride: [1, 2], pad: [2, 0] },    // one channel, mixed strides, Q > 32
    { x: [2, 4, 9, 9], w: [12, 4, 3, 3], stride: [1, 1], pad: [0, 0] },     // stride 1, no padding
    { x: [1, 2, 6, 5], w: [7, 2, 1, 1], stride: [2, 1], pad: [3, 1] },      // 1x1 with padding wider than the kernel
    { x: [1, 37, 20, 66], w: [14, 37, 3, 3], stride: [2, 2], pad: [1, 1] }, // many channels, 3x3/2 with rows of 33 (auto's wide_s2 case)
    { x: [2, 16, 9, 35], w: [24, 4, 3, 3], stride: [1, 1], pad: [1, 1], groups: 4 },  // grouped: 4 in / 6 out per group
    { x: [1, 32, 10, 67], w: [32, 4, 3, 3], stride: [2, 2], pad: [1, 1], groups: 8 },  // ResNeXt-like groups of 4, stride 2
    { x: [1, 8, 6, 67], w: [12, 2, 3, 3], stride: [1, 1], pad: [1, 1], groups: 4 },   // groups of 3 out on rows of 67: 4 x 64 columns + a tail
    { x: [1, 36, 8, 40], w: [18, 12, 3, 3], stride: [1, 1], pad: [1, 1], groups: 3 },  // 6 out per group, 12 in
    { x: [2, 32, 13, 16], w: [32, 16, 3, 3], stride: [1, 1], pad: [1, 1], groups: 2 },  // rows of ≤ 16: one column vector, 16 channels
    { x: [1, 40, 11, 12], w: [40, 20, 3, 3], stride: [1, 1], pad: [1, 1], groups: 2 },  // 20 out per group: a 24-channel block, partial
    { x: [1, 64, 17, 30], w: [64, 32, 3, 3], stride: [2, 2], pad: [1, 1], groups: 2 },  // stride 2 to rows of 15, two 16-channel blocks
    { x: [1, 3, 9, 14], w: [40, 3, 3, 3], stride: [1, 1], pad: [1, 1] },               // a stem on a small image: 24-channel blocks
    { x: [2, 3, 37, 45], w: [64, 3, 7, 7], stride: [2, 2], pad: [3, 3] },   // ResNet stem, 64 out: 16-channel blocks, rows of 23 (a column tail)
    { x: [1, 3, 70, 66], w: [32, 3, 3, 3], stride: [2, 2], pad: [1, 1] },   // MobileNet stem, 32 out: 16-channel blocks on rows of 33
  ];
  for (const c of cases)
    for (const act of ACTS) {
      const cfg = { stride: c.stride, padding: c.pad, dilation: [1, 1] as [number, number], groups: c.groups ?? 1 };
      const ys = convOutShape(c.x, c.w, cfg);
      const x = f32(rng.array(numel(c.x))), w = f32(rng.array(numel(c.w))), b = f32(rng.array(c.w[0]));
      const y = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), t32(b, [c.w[0]]), { stride: c.stride, padding: c.pad, groups: c.groups, act, algo: 'stem' }).toArray());
      const f = act === 'none' ? (v: number) => v : activationRefs[act];
      assertClose(y, conv2dRef(x, c.x, w, c.w, b, cfg).map(f), tol('gemm', { label: '', x: c.x, w: c.w, pad: 0 }), `stem ${c.x}/${c.w} ${act}`);
      assert.equal(ys.length, 4);
    }
});

test('conv2d_act (depthwise): 3x3 / 5x5, stride 1 / 2, dilation, multiplier 2, padding, residual, every activation', () => {
  if (!on) return;
  const rng = new Rng(307);
  interface Dw { x: number[]; w: number[]; stride: [number, number]; pad: [number, number]; dil: [number, number] }
  const cases: Dw[] = [
    { x: [2, 5, 19, 37], w: [5, 1, 3, 3], stride: [1, 1], pad: [1, 1], dil: [1, 1] },   // MobileNet dw, rows over 2 vectors
    { x: [1, 4, 23, 41], w: [4, 1, 3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1] },   // stride 2, batch 1
    { x: [2, 3, 17, 18], w: [3, 1, 5, 5], stride: [2, 2], pad: [2, 2], dil: [1, 1] },   // EfficientNet 5x5/2
    { x: [1, 3, 12, 33], w: [6, 1, 5, 5], stride: [1, 1], pad: [2, 2], dil: [1, 1] },   // multiplier 2
    { x: [1, 2, 11, 20], w: [2, 1, 3, 3], stride: [1, 2], pad: [2, 3], dil: [2, 2] },   // dilation, padding > radius
    { x: [1, 2, 9, 10], w: [2, 1, 3, 3], stride: [3, 3], pad: [1, 1], dil: [1, 1] },    // stride 3 (the row path)
    { x: [1, 3, 15, 16], w: [3, 1, 3, 3], stride: [1, 1], pad: [0, 0], dil: [1, 1] },   // no padding, row blocks 8 + 4 + 1
    { x: [2, 2, 3, 7], w: [2, 1, 5, 5], stride: [1, 1], pad: [2, 2], dil: [1, 1] },     // filter taller than the image
    { x: [1, 3, 14, 9], w: [3, 1, 5, 5], stride: [2, 2], pad: [1, 2], dil: [1, 1] },    // uneven padding, 5x5/2 blocks 4 + 2 + 1
    { x: [1, 5, 8, 8], w: [5, 1, 3, 3], stride: [1, 1], pad: [1, 1], dil: [1, 1] },     // 8-wide maps: two rows per vector, 4 vectors
    { x: [2, 3, 7, 8], w: [3, 1, 5, 5], stride: [1, 1], pad: [2, 2], dil: [1, 1] },     // 8 wide, odd height: a half vector
    { x: [1, 2, 11, 8], w: [4, 1, 3, 3], stride: [1, 1], pad: [1, 1], dil: [1, 1] },    // 8 wide, 6 vectors (4 + 1 + 1), multiplier 2
    { x: [1, 2, 8, 8], w: [2, 1, 5, 5], stride: [1, 1], pad: [1, 1], dil: [1, 1] },     // 8 wide but not 'same' padding: the blocked path
    { x: [1, 5, 16, 16], w: [5, 1, 3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1] },   // 3x3/2 to 8 wide: two rows per vector, 4 vectors
    { x: [2, 3, 15, 15], w: [3, 1, 3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1] },   // 3x3/2, odd input to 8 wide
    { x: [1, 2, 13, 16], w: [4, 1, 3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1] },   // 8 wide, 7 rows: a half vector, multiplier 2
    { x: [1, 3, 21, 15], w: [3, 1, 3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1] },   // 8 wide, 11 rows: 6 vectors (4 + 1 + 1)
    { x: [1, 2, 16, 16], w: [2, 1, 3, 3], stride: [2, 2], pad: [0, 0], dil: [1, 1] },   // stride 2 to 7 wide: the blocked path
  ];
  for (const c of cases)
    for (const act of ACTS) {
      const cfg = { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.x[1] };
      const ys = convOutShape(c.x, c.w, cfg);
      const x = f32(rng.array(numel(c.x), -2, 2)), w = f32(rng.array(numel(c.w))), b = f32(rng.array(c.w[0])), r = f32(rng.array(numel(ys)));
      const y = tidy(() => conv2dAct(t32(x, c.x), t32(w, c.w), t32(b, [c.w[0]]), { residual: t32(r, ys), ...cfg, act, algo: 'depthwise' }).toArray());
      const f = act === 'none' ? (v: number) => v : activationRefs[act];
      const ref = conv2dRef(x, c.x, w, c.w, b, cfg).map((v, i) => f(v + r[i]));
      assertClose(y, ref, { atol: 1e-5, rtol: 1e-5 }, `depthwise ${c.x}/${c.w} s${c.stride} ${act}`);
    }
});

test('conv2d_act = conv2d → add → activation bit for bit where conv2d runs the same kernel (gemm, 1x1, depthwise)', () => {
  if (!on) return;
  const rng = new Rng(310);
  const unfused: Record<ConvAct, (t: Tensor) => Tensor> = { none: (t) => t, relu, relu6, silu, sigmoid, hardswish };
  const cases: [number[], number[], Conv2dActOptions][] = [
    [[2, 5, 9, 11], [7, 5, 3, 3], { padding: 1, algo: 'gemm', act: 'none' }],
    [[2, 6, 10, 9], [8, 6, 1, 1], { act: 'none' }],
    [[1, 4, 17, 20], [4, 1, 3, 3], { padding: 1, groups: 4, act: 'none' }],
    [[2, 3, 15, 18], [3, 1, 5, 5], { padding: 2, stride: 2, groups: 3, act: 'none' }],
  ];
  for (const [xs, ws, o] of cases)
    for (const act of ACTS)
      for (const withRes of [false, true]) {
        const ys = convOutShape(xs, ws, { stride: [o.stride as number ?? 1, o.stride as number ?? 1], padding: [o.padding as number ?? 0, o.padding as number ?? 0], dilation: [1, 1], groups: o.groups ?? 1 });
        const x = f32(rng.array(numel(xs), -2, 2)), w = f32(rng.array(numel(ws))), b = f32(rng.array(ws[0])), r = f32(rng.array(numel(ys)));
        const [y, y2] = tidy(() => {
          const xt = t32(x, xs), wt = t32(w, ws), bt = t32(b, [ws[0]]), rt = withRes ? t32(r, ys) : null;
          const z = conv2d(xt, wt, bt, { stride: o.stride, padding: o.padding, groups: o.groups });
          return [conv2dAct(xt, wt, bt, { ...o, act, residual: rt }).toArray(), unfused[act](rt ? add(z, rt) : z).toArray()];
        });
        assert.equal([...y], [...y2], `${xs}/${ws} ${act} residual=${withRes}: fused = unfused`);
      }
});

test('conv2d_act: a NaN in the input reaches the output through every activation (as the unfused ops)', () => {
  if (!on) return;
  tidy(() => {
    for (const act of ACTS) {
      // 1x1 on 8x8: the GEMM with the epilogue in registers; on 3x3: conv2d + the epilogue pass
      for (const hw of [3, 8]) {
        const v = Array.from({ length: hw * hw }, (_, i) => (i === 3 ? NaN : i - 20));
        const y = conv2dAct(t32(v, [1, 1, hw, hw]), t32([1], [1, 1, 1, 1]), null, { act }).toArray();
        assert.ok(Number.isNaN(y[3]) && y.filter(Number.isNaN).length === 1, `${act} ${hw}x${hw}: NaN only where x is NaN`);
      }
    }
  });
});

test('conv2d_act: Winograd error against float64 (F(2,3) and F(4,3), C = 256)', () => {
  if (!on) return;
  const rng = new Rng(303);
  const xs = [1, 256, 12, 12], wsh = [16, 256, 3, 3];
  const x = f32(rng.array(numel(xs))), w = f32(rng.array(numel(wsh)).map((v) => v / 16));
  const ref = reference({ label: '', x: xs, w: wsh, pad: 1 }, x, w, new Float64Array(16), null, 'none');
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const errs: string[] = [];
  for (const algo of ['gemm', 'winograd2', 'winograd4'] as ConvAlgo[]) {
    const y = tidy(() => conv2dAct(t32(x, xs), t32(w, wsh), null, { padding: 1, algo, act: 'none' }).toArray());
    let e = 0;
    for (let i = 0; i < y.length; i++) e = Math.max(e, Math.abs(y[i] - ref[i]));
    errs.push(`${algo} ${(e / scale).toExponential(1)}`);
    // stated bounds (max |Δ| / max |y|): gemm and F(2,3) 2e-6, F(4,3) 2e-5 (measured: 2.7e-7, 4.8e-7 and
    // 5.4e-6 with FMA (AVX2, AVX-512), 1.1e-5 without (the generic build))
    assert.ok(e / scale <= (algo === 'winograd4' ? 2e-5 : 2e-6), `${algo}: max|Δ|/max|y| = ${(e / scale).toExponential(2)}`);
  }
  console.log(`  [info] conv2d_act max|Δ|/max|y| vs float64, C=256: ${errs.join(', ')}`);
});

test('conv2d_act: vjp = finite differences (x, w, b, r) for each activation', () => {
  if (!on) return;
  const rng = new Rng(304);
  const xs = [1, 3, 6, 5], wsh = [4, 3, 3, 3], ys = [1, 4, 6, 5];
  for (const act of ACTS)
    for (const algo of ['gemm', 'winograd4'] as ConvAlgo[])
      gradcheck({
        label: `conv2d_act ${act} ${algo}`, rng, samples: 24,
        inputs: [{ data: rng.array(numel(xs)), shape: xs }, { data: rng.array(numel(wsh)), shape: wsh }, { data: rng.array(4), shape: [4] }, { data: rng.array(numel(ys)), shape: ys }],
        engine: ([x, w, b, r]) => conv2dAct(x, w, b, { residual: r, padding: 1, act, algo }),
        ref: ([x, w, b, r]) => reference({ label: '', x: xs, w: wsh, pad: 1 }, x, w, b, r, act),
      });
});

// The stem (direct), depthwise and F(2,3) kernels with a residual and no bias (zeros go in
// as b), and their vjp: silu and hardswish recompute the pre-activation with the same forced
// kernel (act none, residual added), so each kernel's backward is its own. The vjp is checked
// against the float64 closed form dz = dy·act'(z), dx = conv2dᵀ(dz), dw = dz ⋆ x, db = Σ dz,
// dr = dz. No other test gave these kernels a residual or a gradient (a sweep against
// PyTorch float64 found them right; this keeps them so).
test('conv2d_act (stem, depthwise, winograd2): residual without bias, and the vjp in x, w, b, r = float64 closed form', () => {
  if (!on) return;
  const rng = new Rng(311);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const dact: Record<ConvAct, (z: number) => number> = {
    none: () => 1, relu: (z) => (z > 0 ? 1 : 0), relu6: (z) => (z > 0 && z < 6 ? 1 : 0), sigmoid: (z) => sig(z) * (1 - sig(z)),
    silu: (z) => sig(z) * (1 + z * (1 - sig(z))), hardswish: (z) => (z < -3 ? 0 : z > 3 ? 1 : (2 * z + 3) / 6),
  };
  const cases: [ConvAlgo, number[], number[], number, number, number][] = [   // algo, x, w, stride, padding, groups
    ['stem', [2, 3, 13, 35], [9, 3, 3, 3], 2, 1, 1],   // rows of 18 outputs, K % 8 ≠ 0
    ['stem', [1, 8, 6, 29], [12, 2, 3, 3], 1, 1, 4],   // grouped, rows of 29
    ['depthwise', [2, 4, 9, 19], [8, 1, 3, 3], 2, 1, 4],  // multiplier 2, stride 2, odd rows
    ['depthwise', [1, 3, 8, 8], [3, 1, 5, 5], 1, 2, 3],
    ['winograd2', [1, 5, 9, 15], [4, 5, 3, 3], 1, 1, 1],  // tile rows of 8 (pairs)
  ];
  for (const [algo, xs, wsh, st, pad, groups] of cases)
    for (const act of ACTS)
      for (const withB of [false, true]) {
        const cfg = { stride: [st, st] as [number, number], padding: [pad, pad] as [number, number], dilation: [1, 1] as [number, number], groups };
        const ys = convOutShape(xs, wsh, cfg);
        const x = f32(rng.array(numel(xs), -2, 2)), w = f32(rng.array(numel(wsh))), b = f32(rng.array(wsh[0]));
        const r = f32(rng.array(numel(ys))), dy = f32(rng.array(numel(ys)));
        const z = conv2dRef(x, xs, w, wsh, withB ? b : null, cfg).map((v, i) => v + r[i]);
        const f = act === 'none' ? (v: number) => v : activationRefs[act];
        const dz = z.map((v, i) => dy[i] * dact[act](v));
        const at = `${algo} ${xs}/${wsh} ${act} bias=${withB}`;
        const got = tidy(() => {
          const ts = [t32(x, xs), t32(w, wsh), withB ? t32(b, [wsh[0]]) : null, t32(r, ys)];
          for (const t of ts) if (t) t.requiresGrad = true;
          const y = conv2dAct(ts[0]!, ts[1]!, ts[2], { ...cfg, act, residual: ts[3], algo });
          backward(y, { grad: t32(dy, ys) });
          return { y: y.toArray(), g: ts.map((t) => t?.grad!.toArray()) };
        });
        const terms = wsh[1] * wsh[2] * wsh[3];
        assertClose(got.y, z.map(f), { atol: 1e-5 + 2e-7 * terms, rtol: 1e-5 }, `${at}: forward`);
        const tolG = (n: number) => ({ atol: 1e-5 + 4e-7 * n, rtol: 1e-4 });
        assertClose(got.g[0]!, conv2dBwdDataRef(dz, xs, w, wsh, cfg), tolG((wsh[0] / groups) * wsh[2] * wsh[3]), `${at}: dx`);
        assertClose(got.g[1]!, conv2dBwdFilterRef(dz, x, xs, wsh, cfg), tolG(ys[0] * ys[2] * ys[3]), `${at}: dw`);
        if (withB) assertClose(got.g[2]!, Array.from({ length: wsh[0] }, (_, k) => {
          let s = 0;
          for (let n = 0; n < ys[0]; n++) for (let j = 0; j < ys[2] * ys[3]; j++) s += dz[(n * ys[1] + k) * ys[2] * ys[3] + j];
          return s;
        }), tolG(ys[0] * ys[2] * ys[3]), `${at}: db`);
        assertClose(got.g[3]!, dz, tolG(1), `${at}: dr`);
      }
});

test('winograd_weights + conv2d_act(winograd: m) = the 3x3 conv (weights transformed once, as an inference plan does)', () => {
  if (!on) return;
  const rng = new Rng(308);
  for (const m of [2, 4] as const)
    for (const c of [CASES[0], CASES[3], CASES.find((k) => k.x[3] === 45)!]) {
      const ys = convOutShape(c.x, c.w, { stride: [1, 1], padding: [c.pad, c.pad], dilation: [1, 1], groups: 1 });
      const x = f32(rng.array(numel(c.x))), w = f32(rng.array(numel(c.w))), b = f32(rng.array(c.w[0])), r = f32(rng.array(numel(ys)));
      const y = tidy(() => {
        const u = winogradWeights(t32(w, c.w), m);
        assert.equal(u.shape, [(m + 2) ** 2, c.w[0], c.w[1]]);
        return conv2dAct(t32(x, c.x), u, t32(b, [c.w[0]]), { residual: t32(r, ys), padding: c.pad, act: 'silu', winograd: m }).toArray();
      });
      assertClose(y, reference(c, x, w, b, r, 'silu'), tol(m === 4 ? 'winograd4' : 'winograd2', c), `winograd ${m} ${c.label}`);
    }
  tidy(() => {
    const x = t32(new Float64Array(2 * 4 * 6 * 6), [2, 4, 6, 6]), w = t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]);
    const u = winogradWeights(w, 4);
    assert.throws(() => conv2dAct(x, u, null, { winograd: 2, act: 'none' }), /U \[36, 3, 4\] must have 16 rows/);
    assert.throws(() => conv2dAct(x, u, null, { winograd: 4, stride: 2, act: 'none' }), /need stride 1, dilation 1 and groups 1/);
    x.requiresGrad = true;
    assert.throws(() => conv2dAct(x, u, null, { winograd: 4, act: 'none' }), /support no gradient/);
    assert.throws(() => winogradWeights(t32(new Float64Array(3 * 4 * 25), [3, 4, 5, 5]), 4), /must be a 3x3 kernel/);
  });
});

test('conv2d_act: bad algo, act and shapes are refused by name', () => {
  if (!on) return;
  tidy(() => {
    const x = t32(new Float64Array(2 * 4 * 6 * 6), [2, 4, 6, 6]), w5 = t32(new Float64Array(3 * 4 * 25), [3, 4, 5, 5]);
    assert.throws(() => conv2dAct(x, w5, null, { algo: 'winograd4', act: 'none' }), /conv2d_act: algo 'winograd4' needs a 3x3 kernel/);
    const w3 = t32(new Float64Array(3 * 4 * 9), [3, 4, 3, 3]);
    assert.throws(() => conv2dAct(x, w3, null, { act: 'tanh' as ConvAct }), /'act' must be one of/);
    assert.throws(() => conv2dAct(x, w3, null, { residual: t32(new Float64Array(5), [1, 1, 1, 5]), act: 'none' }), /residual \[1, 1, 1, 5\] must have the output's shape/);
    assert.throws(() => conv2dAct(x, w3, null, { algo: 'winograd2', stride: 2, act: 'none' }), /needs a 3x3 kernel, stride 1/);
    assert.throws(() => conv2dAct(t32(new Float64Array(2 * 4 * 36), [2, 4, 6, 6]), t32(new Float64Array(12 * 9), [3, 4, 3, 3]), null, { algo: 'stem', dilation: 2, padding: 2, act: 'none' }), /algo 'stem' needs stride 1 or 2 and dilation 1/);
    const xd = t32(new Float64Array(2 * 4 * 36), [2, 4, 6, 6]), wd = t32(new Float64Array(4 * 9), [4, 1, 3, 3]);
    assert.throws(() => conv2dAct(xd, wd, null, { algo: 'stem', groups: 4, padding: 1, act: 'none' }), /algo 'stem' does not run depthwise convs .*use 'depthwise'/);
  });
});

// On every device (MDMT_DEVICE=cuda runs the composed CUDA registration: cuDNN's conv, then add and the activation in place)
test('conv2d_act on this device: = float64 and = conv2d → add → activation bit for bit (3x3, strided, 1x1, depthwise; bias, residual)', () => {
  if (!deviceAvailable('conv2d_act')) return;
  const rng = new Rng(309);
  const unfused: Record<Exclude<ConvAct, 'none'>, (t: Tensor) => Tensor> = { relu, relu6, silu, sigmoid, hardswish };
  const cases: [number[], number[], number, number, number][] = [
    [[2, 3, 7, 6], [4, 3, 3, 3], 1, 1, 1], [[1, 4, 9, 9], [6, 4, 3, 3], 2, 1, 1], [[3, 5, 4, 4], [7, 5, 1, 1], 1, 0, 1], [[2, 6, 8, 5], [6, 1, 3, 3], 1, 1, 6],
  ];
  for (const [xs, wsh, st, pad, groups] of cases)
    for (const act of ACTS)
      for (const [withB, withR] of [[true, true], [true, false], [false, false]]) {
        const cfg = { stride: [st, st] as [number, number], padding: [pad, pad] as [number, number], dilation: [1, 1] as [number, number], groups };
        const ys = convOutShape(xs, wsh, cfg);
        const x = f32(rng.array(numel(xs), -2, 2)), w = f32(rng.array(numel(wsh))), b = f32(rng.array(wsh[0])), r = f32(rng.array(numel(ys)));
        const [y, y2] = tidy(() => {
          const xt = t32(x, xs), wt = t32(w, wsh), bt = withB ? t32(b, [wsh[0]]) : null, rt = withR ? t32(r, ys) : null;
          const z = conv2d(xt, wt, bt, cfg), zr = rt ? add(z, rt) : z;
          return [conv2dAct(xt, wt, bt, { ...cfg, act, residual: rt }).toArray(), (act === 'none' ? zr : unfused[act](zr)).toArray()];
        });
        const f = act === 'none' ? (v: number) => v : activationRefs[act];
        const ref = conv2dRef(x, xs, w, wsh, withB ? b : null, cfg).map((v, i) => f(v + (withR ? r[i] : 0)));
        assertClose(y, ref, { atol: 1e-5, rtol: 1e-4 }, `${act} ${xs} ${wsh} b=${withB} r=${withR}`);
        assert.equal([...y], [...y2], `${act} ${xs} ${wsh}: fused = unfused`);
      }
});

rerunUnderIsaCaps(__filename, 'conv2d_act');
test.run();
