/**
 * CPU forward throughput of every zoo backbone (classifier removed, eval mode, no grad) at
 * 3×256×256, batch 1 and batch 8: images/s of mdmt — the eager `model.forward` and the
 * inference plan (`compileInference`: traced once, BatchNorm folded into the convs, conv
 * epilogues fused, Winograd weights transformed once) — against onnxruntime-node running
 * mdmt's own ONNX export of the same model with the same weights, all in this process,
 * with the same number of threads. The engines are timed in alternating rounds (eager,
 * plan, ORT, eager, ...) and each reports its median, so a load change hits all three.
 * Outputs are compared (max |Δ| relative to max |y|). Reports a table, geometric means of
 * mdmt/ORT and the machine's load average before and after.
 *
 * Usage (or `npm run bench:models -- <options>`)
 *   npx tsx bench/models/cpu-forward.ts [--quick] [--filter=resnet,mobilenet] [--batches=1,8] [--size=256] [--min-time=2] [--rounds=3] [--profile] [--append]
 *     --quick      one timed run per case            --profile  the plan's time per op type (top 5) per model
 *     --cpu-time   process CPU time instead of wall time (with MDMT_NUM_THREADS=1: a loaded machine's view)
 *     --append     add the table at the end of bench/RESULTS.md's "## CPU model forward: kernels (issue 13)"
 *   MDMT_ADDON selects the addon; MDMT_NUM_THREADS the threads (both engines).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { noGrad } from '../../ts/autograd/tape';
import { toOnnx } from '../../ts/io/onnx_export';
import { compileInference, PlanStepTime } from '../../ts/models/inference';
import { getModel, listModels } from '../../ts/models/zoo';
import { native, packageRoot } from '../../ts/native/binding';
import { manualSeed } from '../../ts/random';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { BenchArgError, checkSize, parseSettings } from '../lib/args';
import { appendToSection, gitCommit, median, printPreamble } from '../lib/report';

const args = process.argv.slice(2);
const cfg = parseSettings('bench/models/cpu-forward', (a) => {
  const quick = a.flag('--quick');
  const c = {
    quick,
    profile: a.flag('--profile'),
    // process CPU time instead of wall time: on a loaded machine, with MDMT_NUM_THREADS=1, what
    // each engine computes rather than how long it waited for a core (both engines' threads count)
    cpuTime: a.flag('--cpu-time'),
    append: a.flag('--append'),
    size: a.int('--size', 256, { min: 1 }),
    batches: a.ints('--batches', [1, 8], { min: 1 }),
    // a comma list picks several (--filter=resnet18,mobilenet_v2), as BENCH_MODELS does for bench:train
    filter: a.filter('--filter'),
    minTime: a.num('--min-time', quick ? 0 : 2, { min: 0 }) * 1000,
    rounds: a.int('--rounds', quick ? 1 : 3, { min: 1 }),
  };
  const names = listModels().filter(c.filter.keeps);
  if (!names.length) throw new BenchArgError(`--filter=${c.filter.text} matches no model (models: ${listModels().join(', ')})`);
  checkSize(names, c.size, '--size');
  return { ...c, names };
});
const QUICK = cfg.quick, PROFILE = cfg.profile, CPU_TIME = cfg.cpuTime, APPEND = cfg.append;
const SIZE = cfg.size, BATCHES = cfg.batches, MIN_TIME = cfg.minTime, ROUNDS = cfg.rounds;
const THREADS = native().setThreads();
const ORT_VERSION = (JSON.parse(fs.readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;

/** Seconds per call of fn, one sample per call: one warm-up, then repeats until minTime (at least 3, or 1 when quick). */
async function samples(fn: () => unknown, minTime: number): Promise<number[]> {
  await fn();
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < (QUICK ? 1 : 3) || performance.now() - t0 < minTime) {
    const s = performance.now(), c = process.cpuUsage();
    await fn();
    if (CPU_TIME) {
      const u = process.cpuUsage(c);
      times.push((u.user + u.system) / 1e6);
    } else times.push((performance.now() - s) / 1000);
    if (times.length >= 50) break;
  }
  return times;
}

/** Median seconds per call of each engine, timed in ROUNDS alternating rounds. */
async function alternate(fns: (() => unknown)[]): Promise<number[]> {
  const all: number[][] = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++)
    for (let i = 0; i < fns.length; i++) all[i].push(...(await samples(fns[i], MIN_TIME / ROUNDS)));
  return all.map(median);
}

const loadavg = () => os.loadavg().map((v) => v.toFixed(2)).join(', ');

interface Row { model: string; batch: number; mdmt: number; plan: number; ort: number; err: number; top: string; convs: string }

/** conv kind of a plan step: depthwise, grouped, 1x1, stem (≤ 4 input channels), k×k Winograd or k×k. */
function convKind(c: PlanStepTime): string {
  const pre = c.attrs.winograd as number | undefined;
  const [, Cg, R, S] = pre ? [c.inputs[1][1], c.inputs[1][2], 3, 3] : c.inputs[1];
  const C = c.inputs[0][1], g = (c.attrs.groups as number) ?? 1;
  if (g > 1 && g === C && Cg === 1) return 'dw';
  if (g > 1) return 'grouped';
  if (C <= 4) return 'stem';
  if (pre) return `wino${pre}`;
  return R === 1 && S === 1 ? '1x1' : `${R}x${S}`.replace(/^(\d+)x\1$/, 'kxk');
}
/** 2·N·K·P·Q·(C/g)·R·S of a conv2d / conv2d_act step (pre-transformed Winograd weights: the 3×3 it stands for). */
function convFlops(c: PlanStepTime): number {
  const w = c.inputs[1], per = c.attrs.winograd ? w[2] * 9 : w[1] * w[2] * w[3];
  return 2 * c.output.reduce((a, b) => a * b, 1) * per;
}

async function main(): Promise<void> {
  const names = cfg.names;
  const rows: Row[] = [];
  const loadBefore = loadavg();
  printPreamble(THREADS);
  console.log(`threads ${THREADS}, input 3×${SIZE}×${SIZE}, batches ${BATCHES.join(',')}, onnxruntime-node ${ORT_VERSION}, load average ${loadBefore}`);
  for (const name of names) {
    manualSeed(0);
    const m = getModel(name, { withClassifier: false }).eval();
    const bytes = toOnnx(m, { inputShape: [1, 3, SIZE, SIZE] });
    const sess = await ort.InferenceSession.create(bytes, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const plan = compileInference(m, { inputShape: [1, 3, SIZE, SIZE] });
    for (const batch of BATCHES) {
      const shape = [batch, 3, SIZE, SIZE];
      const x = Float32Array.from({ length: batch * 3 * SIZE * SIZE }, (_, i) => Math.sin(i * 0.001));
      const xt = tensor(x, shape);
      const feeds = { input: new ort.Tensor('float32', x, shape) };
      const runOurs = () => tidy(() => noGrad(() => m.forward(xt).toArray()));
      const ours = runOurs() as Float32Array;
      const ref = (await sess.run(feeds)).output.data as Float32Array;
      let scale = 0, err = 0;
      for (let i = 0; i < ref.length; i++) { scale = Math.max(scale, Math.abs(ref[i])); err = Math.max(err, Math.abs(ref[i] - ours[i])); }
      const runPlan = () => tidy(() => (plan.run(xt) as Tensor).toArray());
      const viaPlan = runPlan() as Float32Array;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ref[i] - viaPlan[i]));
      const [tm, tp, to] = await alternate([runOurs, runPlan, () => sess.run(feeds)]);
      let top = '', convs = '';
      if (PROFILE) {
        // the native plan's own per-step times (one run, timed step by step)
        const per = new Map<string, number>();
        const conv = new Map<string, [number, number]>(); // kind → [ms, flops]
        plan.profile(true);
        runPlan();
        for (const c of plan.profile(false)) {
          per.set(c.op, (per.get(c.op) ?? 0) + c.ms);
          if (c.op === 'conv2d' || c.op === 'conv2d_act') {
            const k = convKind(c), e = conv.get(k) ?? [0, 0];
            conv.set(k, [e[0] + c.ms, e[1] + convFlops(c)]);
          }
        }
        const tot = [...per.values()].reduce((a, b) => a + b, 0);
        top = [...per].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${Math.round((100 * v) / tot)}%`).join(', ');
        convs = [...conv].sort((a, b) => b[1][0] - a[1][0]).map(([k, [ms, f]]) => `${k} ${Math.round((100 * ms) / tot)}% @${(f / ms / 1e6).toFixed(1)} GF/s`).join(', ');
      }
      xt.dispose();
      const r: Row = { model: name, batch, mdmt: batch / tm, plan: batch / tp, ort: batch / to, err: err / (scale || 1), top, convs };
      rows.push(r);
      console.log(`${name.padEnd(24)} b${batch}  eager ${r.mdmt.toFixed(2).padStart(7)}  plan ${r.plan.toFixed(2).padStart(7)}  ort ${r.ort.toFixed(2).padStart(7)} img/s  ` +
        `eager/ort ${(r.mdmt / r.ort).toFixed(2)}  plan/ort ${(r.plan / r.ort).toFixed(2)}  max|Δ|/max|y| ${r.err.toExponential(1)}${top ? `\n    ops: ${top}\n    conv2d: ${convs}` : ''}`);
    }
    await sess.release();
    plan.dispose();
    m.dispose();
  }
  const geo = (rs: Row[], f: (r: Row) => number) => Math.exp(rs.reduce((a, r) => a + Math.log(f(r) / r.ort), 0) / rs.length);
  const line = (label: string, f: (r: Row) => number) =>
    `${label}/ORT ${geo(rows, f).toFixed(3)} (all), ${BATCHES.map((b) => `${geo(rows.filter((r) => r.batch === b), f).toFixed(3)} (batch ${b})`).join(', ')}`;
  const summary = `geometric means: ${line('eager', (r) => r.mdmt)}; ${line('plan', (r) => r.plan)}`;
  const worst = rows.reduce((w, r) => (r.plan / r.ort < w.plan / w.ort ? r : w), rows[0]);
  const load = `load average (1, 5, 15 min) before ${loadBefore}, after ${loadavg()}${CPU_TIME ? '; times are process CPU time' : ''}`;
  console.log(`${summary}\nlowest plan/ORT: ${worst.model} b${worst.batch} ${(worst.plan / worst.ort).toFixed(2)}; ${load}`);
  if (APPEND) append(rows, `${summary}; lowest plan/ORT ${worst.model} b${worst.batch} ${(worst.plan / worst.ort).toFixed(2)}`, load);
}

function append(rows: Row[], summary: string, load: string): void {
  const root = packageRoot();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const head = '## CPU model forward: kernels (issue 13)';
  const lines = [
    `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${gitCommit()}`, '',
    `Device: ${cpu}, ${os.cpus().length} logical cores, ${THREADS} threads for both engines; onnxruntime-node ${ORT_VERSION} (graph optimisation 'all').`,
    `Command: \`npx tsx bench/models/cpu-forward.ts ${args.filter((a) => a !== '--append').join(' ')}\` — backbone only (classifier removed), eval mode, no grad, 3×${SIZE}×${SIZE}, engines timed in ${ROUNDS} alternating rounds over ≥${MIN_TIME / 1000} s, medians; ORT runs mdmt's own ONNX export (same weights). ${load}.`,
    '', '| model | batch | eager img/s | plan img/s | ORT img/s | eager/ORT | plan/ORT | max\\|Δ\\|/max\\|y\\| |' + (PROFILE ? ' plan time by op | convs by kind (share, GFLOP/s) |' : ''),
    '|---|---:|---:|---:|---:|---:|---:|---:|' + (PROFILE ? '---|---|' : ''),
    ...rows.map((r) => `| ${r.model} | ${r.batch} | ${r.mdmt.toFixed(2)} | ${r.plan.toFixed(2)} | ${r.ort.toFixed(2)} | ${(r.mdmt / r.ort).toFixed(2)} | ${(r.plan / r.ort).toFixed(2)} | ${r.err.toExponential(1)} |` + (PROFILE ? ` ${r.top} | ${r.convs} |` : '')),
    '', `**${summary}**`, '',
  ];
  const file = path.join(root, 'bench', 'RESULTS.md');
  // a run goes at the end of the section: the earlier runs and their analysis stay
  const text = appendToSection(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n', head, lines);
  fs.writeFileSync(file, text);
  console.log(`appended to ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
