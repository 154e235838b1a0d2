/**
 * The CPU SGEMM under conv2d / linear / matmul, reached through `matmul` with its internal
 * `isa` attribute so every micro-kernel this CPU can run is checked (AVX-512 8×48 and 14×32
 * and the per-call choice between them, AVX2 6×16, generic 4×16), over odd sizes that cross every blocking boundary (MR/NR edges,
 * K > KC = 256, N > NC ≈ 4096, M > the packed-A block) and all four transpose
 * combinations (N ≤ 1024 reads A in place on the 8×48 kernel: partial row panels, K slices
 * and chunks, edge columns). MDMT_CPU_ISA (the cap the whole backend obeys) is checked in child processes.
 */
import { spawnSync } from 'child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addonPath, native } from '../../ts/native/binding';
import { GemmIsa } from '../../ts/ops/conv2d';
import { conv2dAct } from '../../ts/ops/conv2d_act';
import { matmul } from '../../ts/ops/linear';
import { tidy } from '../../ts/tensor';
import { assertClose, DEVICE, f32, numel, Rng, t32 } from '../helpers';
import { matmulRef } from '../ref/linear';

const on = DEVICE === 'cpu';
if (!on) console.log('  [skip] gemm: CPU-only suite (MDMT_DEVICE is not cpu)');
const cpuIsa = () => native().devices().find((d) => d.name === 'cpu')!.props.isa;
const ISAS: GemmIsa[] = ['generic', ...(cpuIsa() !== 'generic' ? ['avx2' as const] : []),
  ...(cpuIsa() === 'avx512f' ? ['avx512' as const, 'avx512_14x32' as const, 'avx512_8x48' as const] : [])];

// float32 dot products of length K against float64: a rounding per term at most
const tol = (K: number) => ({ atol: 1e-5 + 2e-7 * K, rtol: 1e-5 });

const SIZES: [number, number, number][] = [
  [1, 1, 1], [13, 33, 7], [15, 31, 257], [29, 65, 300], [6, 16, 512], [14, 32, 1], [17, 50, 9], [9, 68, 5], [16, 196, 300], [8, 48, 1025], [70, 4100, 3], [4100, 3, 5], [3, 5, 0],
  [45, 50, 300], // two column panels: on 2+ threads the rows are cut finer (16-row tiles, the last one empty)
  [97, 530, 100], [130, 300, 128], // shallow products on wide C: AVX2 tiles go rows first (partial row and column panels)
];

for (const isa of ISAS) {
  test(`sgemm (${isa}): matmul = float64 triple loop, all transposes, odd sizes`, () => {
    if (!on) return;
    const rng = new Rng(101);
    for (const [M, N, K] of SIZES)
      for (const transA of [false, true])
        for (const transB of [false, true]) {
          const as = transA ? [K, M] : [M, K], bs = transB ? [N, K] : [K, N];
          const a = f32(rng.array(numel(as))), b = f32(rng.array(numel(bs)));
          const c = tidy(() => matmul(t32(a, as), t32(b, bs), { transA, transB, isa }).toArray());
          assertClose(c, matmulRef(a, as, b, bs, transA, transB), tol(K), `${isa} M=${M} N=${N} K=${K} tA=${transA} tB=${transB}`);
        }
  });
}

// Products small enough to be cut into one block per thread (each thread packing its own
// panels, gemm.cc's sgemm_partitioned): column blocks, column × row blocks (more threads
// than 32-column blocks), row blocks only (few columns, or rows ≥ 2 × columns), and the shared-packing path beside
// them, on 1–4 threads; then the same through a 1×1 conv's epilogue (bias, residual, relu)
// on a batch-1 image, whose offsets move with each block.
test('sgemm: the same product on 1, 2, 3 and 4 threads (per-thread blocks, epilogue offsets)', () => {
  if (!on) return;
  const rng = new Rng(103);
  const before = native().setThreads();
  try {
    for (const threads of [1, 2, 3, 4]) {
      native().setThreads(threads);
      for (const [M, N, K] of [[160, 64, 96], [300, 64, 160], [4100, 3, 5], [70, 4100, 3], [24, 1030, 40], [96, 200, 300], [33, 97, 130], [400, 130, 70], [200, 520, 64]] as const)
        for (const transB of [false, true]) {
          const as = [M, K], bs = transB ? [N, K] : [K, N];
          const a = f32(rng.array(numel(as))), b = f32(rng.array(numel(bs)));
          const c = tidy(() => matmul(t32(a, as), t32(b, bs), { transB }).toArray());
          assertClose(c, matmulRef(a, as, b, bs, false, transB), tol(K), `${threads} threads M=${M} N=${N} K=${K} tB=${transB}`);
        }
      const [C, Ko, H, W] = [96, 160, 8, 9];
      const x = f32(rng.array(C * H * W)), w = f32(rng.array(Ko * C)), bias = f32(rng.array(Ko)), r = f32(rng.array(Ko * H * W));
      const y = tidy(() => conv2dAct(t32(x, [1, C, H, W]), t32(w, [Ko, C, 1, 1]), t32(bias, [Ko]), { residual: t32(r, [1, Ko, H, W]), act: 'relu' }).toArray());
      const ref = matmulRef(w, [Ko, C], x, [C, H * W]).map((v, i) => Math.max(0, v + bias[Math.floor(i / (H * W))] + r[i]));
      assertClose(y, ref, tol(C), `1x1 conv epilogue, ${threads} threads`);
    }
  } finally {
    native().setThreads(before);
  }
});

test('sgemm: the best ISA is the default and an unavailable one is refused by name', () => {
  if (!on) return;
  const rng = new Rng(102);
  const a = f32(rng.array(37 * 41)), b = f32(rng.array(41 * 19));
  const c = tidy(() => matmul(t32(a, [37, 41]), t32(b, [41, 19])).toArray());
  assertClose(c, matmulRef(a, [37, 41], b, [41, 19]), tol(41), 'auto');
  if (cpuIsa() !== 'avx512f') {
    try {
      tidy(() => matmul(t32(a, [37, 41]), t32(b, [41, 19]), { isa: 'avx512' }));
      assert.unreachable('no error');
    } catch (e) {
      assert.is((e as { code: string }).code, 'ENOTIMPL');
      assert.match((e as Error).message, /matmul: isa 'avx512' is not available/);
    }
  }
});

test('MDMT_CPU_ISA caps the GEMM in a fresh process (generic, avx2)', () => {
  if (!on) return;
  // a child loads the addon directly, runs a 23×19·19×17 matmul and prints isa + result
  const script = `
    const m = require(${JSON.stringify(addonPath())});
    const isa = m.devices().find((d) => d.name === 'cpu').props.isa;
    const a = m.alloc([23, 19], 'float32', 'cpu'), b = m.alloc([19, 17], 'float32', 'cpu'), c = m.alloc([23, 17], 'float32', 'cpu');
    m.upload(a, Float32Array.from({ length: 23 * 19 }, (_, i) => Math.sin(i)));
    m.upload(b, Float32Array.from({ length: 19 * 17 }, (_, i) => Math.cos(i)));
    m.run('matmul', [a, b], [c], {});
    let refused = '';
    try { m.run('matmul', [a, b], [c], { isa: 'avx512' }); } catch (e) { refused = e.code; }
    console.log(JSON.stringify({ isa, refused, c: Array.from(m.download(c)) }));`;
  const a = Float64Array.from({ length: 23 * 19 }, (_, i) => Math.fround(Math.sin(i)));
  const b = Float64Array.from({ length: 19 * 17 }, (_, i) => Math.fround(Math.cos(i)));
  const ref = matmulRef(a, [23, 19], b, [19, 17]);
  for (const cap of ['generic', 'avx2']) {
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, MDMT_CPU_ISA: cap }, encoding: 'utf8' });
    assert.is(r.status, 0, `child (${cap}) failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { isa: string; refused: string; c: number[] };
    const expected = cap === 'generic' ? 'generic' : cpuIsa() === 'generic' ? 'generic' : 'avx2+fma';
    assert.is(out.isa, expected, `MDMT_CPU_ISA=${cap}`);
    assert.is(out.refused, 'ENOTIMPL', `MDMT_CPU_ISA=${cap} must refuse isa avx512`);
    assertClose(out.c, ref, tol(19), `MDMT_CPU_ISA=${cap}`);
  }
});

test.run();
