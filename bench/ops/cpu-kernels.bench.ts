/**
 * The issue-13 CPU kernels on their own, against their bound: memory-bound kernels in GB/s
 * (bytes read + written) beside the machine's copy bandwidth measured here, compute-bound
 * ones in GFLOP/s beside the im2col + GEMM path they replace. Each case runs on a rotation
 * of distinct inputs (larger than the L2), so it reads from memory as inside a network.
 *
 *   depthwise 3×3 / 5×5, stride 1 / 2 (conv2d_act, fused ReLU6)   GB/s, % of copy bandwidth
 *   silu, sigmoid (vectorised exp)                                Gelem/s, GB/s
 *   maxpool2d values-only (eval) and with argmax (training), global_avgpool   GB/s
 *   matmul 512×512×512, 512×4608·4608×128 (the compute bound)     GFLOP/s
 *   3×3 stride 1: gemm (im2col) vs Winograd F(2,3) / F(4,3)       GFLOP/s (direct-equivalent), % of matmul
 *   stems 7×7/2 and 3×3/2 (3 channels): gemm vs direct            GFLOP/s, % of matmul
 *   the training step's depthwise, stem and 1×1 convs: forward, data and filter gradients   GFLOP/s
 *
 * Usage: npm run bench:kernels -- [--threads=N] [--reps=7] [--filter=pointwise,stem]   (or npx tsx bench/ops/cpu-kernels.bench.ts ...)
 * --filter keeps the rows whose label contains one of its comma-separated parts (the copy and
 * matmul references always run: the other rows are judged against them).
 * MDMT_ADDON=<path>/mdmt.node times another build of the addon (an A/B of a kernel change).
 * Prints a Markdown table (time: median of reps, wall clock, threads as given; by default the
 * pool's, MDMT_NUM_THREADS or the machine's cores).
 */
import { native } from '../../ts/native/binding';
import { conv2d, conv2dBwdData, conv2dBwdFilter } from '../../ts/ops/conv2d';
import { ConvAlgo, conv2dAct } from '../../ts/ops/conv2d_act';
import { matmul } from '../../ts/ops/linear';
import { copy } from '../../ts/ops/memory';
import { runOp } from '../../ts/ops/op';
import { globalAvgpool, maxpool2d } from '../../ts/ops/pool';
import { sigmoid, silu } from '../../ts/ops/activations';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { parseSettings } from '../lib/args';
import { loadAverage, median, printPreamble } from '../lib/report';

const cfg = parseSettings('bench/ops/cpu-kernels', (a) => ({
  threads: a.int('--threads', 0, { min: 1 }), reps: a.int('--reps', 7, { min: 1 }), filter: a.filter('--filter'),
}));
const THREADS = cfg.threads ? native().setThreads(cfg.threads) : native().setThreads();
const REPS = cfg.reps;
/** Whether a row (or a group of rows) whose label contains `label` runs under --filter. */
const wanted = cfg.filter.keeps;

/** Distinct random inputs of a shape, enough of them to cover 64 MiB (out of cache). */
function inputs(shape: number[]): Tensor[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const count = Math.max(2, Math.min(8, Math.ceil((64 << 20) / (4 * n))));
  return Array.from({ length: count }, (_, k) => tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k)), shape));
}

/** Median milliseconds of f over the rotation of inputs. */
function time(xs: Tensor[], f: (x: Tensor) => unknown): number {
  tidy(() => { f(xs[0]); });
  const t: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const x = xs[(r + 1) % xs.length];
    const s = performance.now();
    tidy(() => { f(x); });  // the result disposed too: a kept one would page-fault fresh memory every rep
    t.push(performance.now() - s);
  }
  return median(t);
}

const rows: string[] = [];
let matched = 0;  // rows --filter asked for (the references run regardless)
const row = (what: string, ms: number, rate: string, note = '') => {
  if (cfg.filter.given && wanted(what)) matched++;
  rows.push(`| ${what} | ${ms.toFixed(3)} | ${rate} | ${note} |`);
  console.log(`${what.padEnd(48)} ${ms.toFixed(3).padStart(9)} ms  ${rate}  ${note}`);
};
const gbs = (bytes: number, ms: number) => bytes / ms / 1e6;

function main(): void {
  printPreamble(THREADS);
  console.log(`threads ${THREADS}, ${REPS} reps (median)`);
  // the copy bandwidth (read + write) these memory-bound kernels are judged against
  const big = inputs([8, 64, 128, 128]);
  const copyMs = time(big, (x) => copy(x));
  const bw = gbs(2 * 4 * big[0].size, copyMs);
  row('copy 8×64×128² (bandwidth reference)', copyMs, `${bw.toFixed(1)} GB/s`);
  big.forEach((t) => t.dispose());

  for (const [N, C, H, k, s] of [[8, 32, 128, 3, 1], [8, 96, 128, 3, 2], [8, 144, 64, 3, 1], [8, 240, 32, 5, 1], [8, 672, 32, 5, 2], [1, 32, 128, 3, 1]]) {
    const what = `depthwise ${k}×${k}/${s} N${N} C${C} @${H}²`;
    if (!wanted(what)) continue;
    const xs = inputs([N, C, H, H]);
    const w = tensor(Float32Array.from({ length: C * k * k }, (_, i) => Math.cos(i) * 0.2), [C, 1, k, k]);
    const b = tensor(new Float32Array(C), [C]);
    const P = Math.floor((H + 2 * ((k - 1) / 2) - k) / s) + 1;
    const ms = time(xs, (x) => conv2dAct(x, w, b, { stride: s, padding: (k - 1) / 2, groups: C, act: 'relu6' }));
    const g = gbs(4 * (N * C * H * H + N * C * P * P), ms);
    row(`${what} + relu6`, ms, `${g.toFixed(1)} GB/s`, `${((100 * g) / bw).toFixed(0)} % of copy`);
    xs.forEach((t) => t.dispose());
    w.dispose();
    b.dispose();
  }

  const acts = ([['silu', silu], ['sigmoid', sigmoid]] as const).filter(([name]) => wanted(`${name} 8×96×64²`));
  const act = acts.length ? inputs([8, 96, 64, 64]) : [];
  for (const [name, f] of acts) {
    const ms = time(act, (x) => f(x));
    row(`${name} 8×96×64²`, ms, `${(act[0].size / ms / 1e6).toFixed(2)} Gelem/s`, `${gbs(8 * act[0].size, ms).toFixed(1)} GB/s`);
  }
  act.forEach((t) => t.dispose());

  for (const [N, C, H, k, s, p] of [[8, 64, 128, 3, 2, 1], [8, 480, 32, 3, 1, 1], [8, 512, 8, 3, 1, 1]]) {
    const what = `maxpool2d ${k}×${k}/${s} N${N} C${C} @${H}²`;
    if (!wanted(what)) continue;
    const xs = inputs([N, C, H, H]);
    const P = Math.floor((H + 2 * p - k) / s) + 1;
    const ms = time(xs, (x) => maxpool2d(x, { kernel: k, stride: s, padding: p }));
    const g = gbs(4 * (N * C * H * H + N * C * P * P), ms);
    row(`${what} (eval)`, ms, `${g.toFixed(1)} GB/s`, `${((100 * g) / bw).toFixed(0)} % of copy`);
    // training: values and the int32 argmax
    const attrs = { kernel: [k, k], stride: [s, s], padding: [p, p], ceil_mode: false };
    const outs = [{ shape: [N, C, P, P] }, { shape: [N, C, P, P], dtype: 'int32' as const }];
    const tms = time(xs, (x) => runOp('maxpool2d', [x], attrs, outs));
    const tg = gbs(4 * (N * C * H * H + 2 * N * C * P * P), tms);
    row(`${what} (training: + argmax)`, tms, `${tg.toFixed(1)} GB/s`, `${((100 * tg) / bw).toFixed(0)} % of copy`);
    xs.forEach((t) => t.dispose());
  }
  if (wanted('global_avgpool 8×1280×8²')) {
    const gap = inputs([8, 1280, 8, 8]);
    const gms = time(gap, (x) => globalAvgpool(x));
    row('global_avgpool 8×1280×8²', gms, `${gbs(4 * gap[0].size, gms).toFixed(1)} GB/s`, `${((100 * gbs(4 * gap[0].size, gms)) / bw).toFixed(0)} % of copy`);
    gap.forEach((t) => t.dispose());
  }

  // the compute bound: the GEMM on products with weights out of cache (a rotation of A)
  let gemmRate = 0;
  for (const [M, K, N] of [[512, 512, 512], [512, 4608, 128]]) {
    const as = inputs([M, K]);
    const bm = tensor(Float32Array.from({ length: K * N }, (_, i) => Math.cos(i) * 0.05), [K, N]);
    const ms = time(as, (a) => matmul(a, bm));
    const rate = (2 * M * N * K) / ms / 1e6;
    gemmRate = Math.max(gemmRate, rate);
    row(`matmul ${M}×${K}·${K}×${N} (compute bound)`, ms, `${rate.toFixed(1)} GFLOP/s`);
    as.forEach((t) => t.dispose());
    bm.dispose();
  }

  const convCase = (label: string, [N, C, H, K, R, s]: number[], algos: ConvAlgo[]) => {
    if (!wanted(label)) return;
    const xs = inputs([N, C, H, H]);
    const w = tensor(Float32Array.from({ length: K * C * R * R }, (_, i) => Math.cos(i) * 0.05), [K, C, R, R]);
    const b = tensor(new Float32Array(K), [K]);
    const pad = (R - 1) / 2, P = Math.floor((H + 2 * pad - R) / s) + 1;
    const flops = 2 * N * K * C * R * R * P * P;
    for (const algo of algos) {
      const ms = time(xs, (x) => conv2dAct(x, w, b, { stride: s, padding: pad, act: 'relu', algo }));
      row(`${label} ${algo}`, ms, `${(flops / ms / 1e6).toFixed(1)} GFLOP/s`, `${((100 * flops) / ms / 1e6 / gemmRate).toFixed(0)} % of matmul`);
    }
    xs.forEach((t) => t.dispose());
    w.dispose();
    b.dispose();
  };
  for (const sh of [[8, 64, 56, 64, 3, 1], [8, 128, 28, 128, 3, 1], [8, 256, 14, 256, 3, 1], [1, 64, 56, 64, 3, 1]])
    convCase(`3×3 N${sh[0]} ${sh[1]}→${sh[3]} @${sh[2]}²`, sh, ['gemm', 'winograd2', 'winograd4']);
  // ResNet-18's layers 3 and 4 in the 128² training step: small maps, the weights' transform
  // as large as the products
  for (const sh of [[8, 256, 8, 256, 3, 1], [8, 512, 4, 512, 3, 1]])
    convCase(`3×3 N${sh[0]} ${sh[1]}→${sh[3]} @${sh[2]}²`, sh, ['gemm', 'winograd2']);
  for (const sh of [[1, 3, 256, 64, 7, 2], [8, 3, 256, 64, 7, 2], [8, 3, 256, 32, 3, 2]])
    convCase(`stem ${sh[4]}×${sh[4]}/2 N${sh[0]} 3→${sh[3]} @${sh[2]}²`, sh, ['gemm', 'stem']);

  // the training step's depthwise, stem and 1×1 convolutions, each pass (what conv2d,
  // conv2d_bwd_data and conv2d_bwd_filter choose for them); the 1×1 ones are ResNet-50's
  // bottleneck expansions and reductions at 128² and MobileNetV2's first expansion
  for (const [N, C, H, K, R, s] of [[8, 576, 8, 576, 3, 1], [8, 960, 4, 960, 3, 1], [8, 240, 16, 240, 5, 1], [8, 96, 64, 96, 3, 2], [8, 3, 128, 64, 7, 2],
    [8, 64, 32, 256, 1, 1], [8, 256, 32, 64, 1, 1], [8, 128, 16, 512, 1, 1], [8, 256, 8, 1024, 1, 1], [8, 16, 64, 96, 1, 1]]) {
    const g = C === K ? C : 1, pad = (R - 1) / 2, P = Math.floor((H + 2 * pad - R) / s) + 1;
    const what = `${g > 1 ? 'depthwise' : R === 1 ? 'pointwise' : 'stem'} ${R}×${R}/${s} N${N} C${C}→${K} @${H}²`;
    if (!wanted(what)) continue;
    const xs = inputs([N, C, H, H]);
    const w = tensor(Float32Array.from({ length: K * (C / g) * R * R }, (_, i) => Math.cos(i) * 0.05), [K, C / g, R, R]);
    const dys = inputs([N, K, P, P]);
    const o = { stride: s, padding: pad, groups: g };
    const flops = (2 * N * K * (C / g) * R * R * P * P) / 1e6;
    for (const [pass, f] of [['forward', (x: Tensor) => conv2d(x, w, null, o)], ['data gradient', (dy: Tensor) => conv2dBwdData(dy, w, xs[0].shape, o)],
      ['filter gradient', (dy: Tensor) => conv2dBwdFilter(dy, xs[0], w.shape, o)]] as const) {
      const ms = time(pass === 'forward' ? xs : dys, f);
      row(`${what} ${pass}`, ms, `${(flops / ms).toFixed(1)} GFLOP/s`);
    }
    [...xs, ...dys, w].forEach((t) => t.dispose());
  }

  console.log(`\n| kernel | ms | rate | vs bound |\n|---|---:|---:|---|\n${rows.join('\n')}`);
  console.log(`load average after: ${loadAverage()}`);
  if (cfg.filter.given && !matched) {
    console.error(`bench/ops/cpu-kernels: --filter=${cfg.filter.text} matched no kernel row (labels start with depthwise, silu, sigmoid, maxpool2d, global_avgpool, 3×3, stem, pointwise)`);
    process.exitCode = 2;
  }
}

main();
