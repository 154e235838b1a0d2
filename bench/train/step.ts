/**
 * `npm run bench:train`: the CPU MDMT training step (forward, both masked losses, backward,
 * Adam) per backbone, three engines alternating in one run: mdmt eager (op by op), mdmt
 * planned (the compiled step, ts/plan) and PyTorch on the CPU (bench/peers/torch_cpu_step.py,
 * Debian's python3-torch; skipped with the reason printed when absent). Each round runs
 * STEPS steps of every engine, in a rotating order; the table gives the median step.
 *
 *   npm run bench:train                                   # batch 8 at 128², 2 threads (or MDMT_NUM_THREADS)
 *   BENCH_MODELS=resnet18 BENCH_ROUNDS=3 npm run bench:train
 * Environment: BENCH_MODELS, BENCH_BATCH (8), BENCH_SIZE (128), BENCH_ROUNDS (5), BENCH_STEPS
 * (2 per engine per round), BENCH_PYTHON (/usr/bin/python3), MDMT_NUM_THREADS, BENCH_PROFILE=1 (the
 * planned step's time per op after each model's row; BENCH_PROFILE=shapes adds the 40 costliest
 * op × shape rows).
 */
import { ChildProcessByStdio, spawn, spawnSync } from 'child_process';
import type { Readable, Writable } from 'stream';
import * as os from 'os';
import * as readline from 'readline';
import { native } from '../../ts/native/binding';
import { setDropoutSeed } from '../../ts/ops/dropout';
import type { PlanExecutor } from '../../ts/plan/executor';
import { compileStep } from '../../ts/plan/step';
import { tensor, tidy } from '../../ts/tensor';
// the model, optimiser, step function and batch of the plan tests: what is timed is what is tested
import { batch, trainee, type Trainee } from '../../test/plan/_fixture';

const MODELS = (process.env.BENCH_MODELS ?? 'resnet18,resnet50,mobilenet_v2,densenet121,shufflenet_v2_x1_0,googlenet').split(',');
const N = Number(process.env.BENCH_BATCH ?? 8), S = Number(process.env.BENCH_SIZE ?? 128);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5), STEPS = Number(process.env.BENCH_STEPS ?? 2);
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const threads = native().setThreads(Number(process.env.MDMT_NUM_THREADS) || os.cpus().length);

/** The PyTorch peer as a line-protocol child process (null with the reason when unavailable). */
class Peer {
  private lines: AsyncIterator<string>;
  private constructor(private proc: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }
  static start(): Peer | string {
    const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8' });
    if (probe.status !== 0) return `${PYTHON} has no torch/torchvision (${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()})`;
    const proc = spawn(PYTHON, [`${__dirname}/../../../bench/peers/torch_cpu_step.py`], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new Peer(proc);
  }
  async ask(cmd: string): Promise<Record<string, unknown>> {
    this.proc.stdin.write(cmd + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error('the PyTorch peer exited');
    const o = JSON.parse(r.value) as Record<string, unknown>;
    if (o.error) throw new Error(`PyTorch peer: ${String(o.error as string)}`);
    return o;
  }
  close(): void {
    this.proc.stdin.end('quit\n');
  }
}

const PROFILE = process.env.BENCH_PROFILE === '1' || process.env.BENCH_PROFILE === 'shapes';
const PROFILE_SHAPES = process.env.BENCH_PROFILE === 'shapes';

/** BENCH_PROFILE=1: the planned step's time per op (summed over STEPS steps; the executor's own clock, wall ms). */
function profilePlan(name: string, plan: PlanExecutor, run: () => void): void {
  plan.profile(true);
  for (let i = 0; i < STEPS; i++) run();
  const byOp = new Map<string, number>();
  for (const r of plan.profile(false)) byOp.set(r.op, (byOp.get(r.op) ?? 0) + r.ms / STEPS);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const top = [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`# ${name} planned step by op (ms per step, wall): ${top.map(([op, ms]) => `${op} ${ms.toFixed(1)} (${((100 * ms) / total).toFixed(0)}%)`).join(', ')}; total ${total.toFixed(1)}`);
  if (!PROFILE_SHAPES) return;
  plan.profile(true);
  for (let i = 0; i < STEPS; i++) run();
  const byShape = new Map<string, number>();
  for (const r of plan.profile(false)) {
    const key = `${r.op} ${r.shapes.length > 160 ? r.shapes.slice(0, 157) + '...' : r.shapes}`;
    byShape.set(key, (byShape.get(key) ?? 0) + r.ms / STEPS);
  }
  for (const [k, ms] of [...byShape].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`#   ${ms.toFixed(2).padStart(7)} ms  ${k}`);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
/** wall and process CPU milliseconds of f (CPU: all threads; less distorted by a loaded machine) */
const timed = (f: () => void): [number, number] => {
  const t = process.hrtime.bigint(), c = process.cpuUsage();
  f();
  const d = process.cpuUsage(c);
  return [Number(process.hrtime.bigint() - t) / 1e6, (d.user + d.system) / 1000];
};

async function benchModel(name: string, peer: Peer | null) {
  const data = batch(0, N, S);
  const eager = trainee(name), planned = trainee(name);
  const step = compileStep(planned.step);
  const runEager = () => tidy(() => eager.step(data.map((d) => ('data' in d ? tensor(d.data, d.shape) : d)))[0].item());
  const runPlanned = () => tidy(() => step.run(data)[0].item());
  try {
    if (peer) await peer.ask(`load ${name} ${N} ${S} ${threads}`);
    setDropoutSeed(1);
    runEager();
    runPlanned(); // records
    runPlanned();
    type Engine = 'eager' | 'planned' | 'torch';
    const ms: Record<Engine, number[]> = { eager: [], planned: [], torch: [] }, cpu: Record<Engine, number[]> = { eager: [], planned: [], torch: [] };
    const ours = (e: Engine, f: () => void) => (): Promise<void> => {
      for (let i = 0; i < STEPS; i++) {
        const [w, c] = timed(f);
        ms[e].push(w);
        cpu[e].push(c);
      }
      return Promise.resolve();
    };
    const engines: (() => Promise<void>)[] = [ours('eager', runEager), ours('planned', runPlanned),
      ...(peer ? [async () => {
        const r = await peer.ask(`steps ${STEPS}`);
        ms.torch.push(...(r.ms as number[]));
        cpu.torch.push(...(r.cpu as number[]));
      }] : [])];
    for (let r = 0; r < ROUNDS; r++) for (let k = 0; k < engines.length; k++) await engines[(r + k) % engines.length]();
    if (PROFILE) profilePlan(name, step.cached[0], runPlanned);
    const m = (e: Engine) => (ms[e].length ? median(ms[e]) : NaN), c = (e: Engine) => (cpu[e].length ? median(cpu[e]) : NaN);
    return { name, eager: m('eager'), planned: m('planned'), torch: m('torch'), cpuEager: c('eager'), cpuPlanned: c('planned'), cpuTorch: c('torch') };
  } finally {
    step.dispose();
    for (const t of [eager, planned] as Trainee[]) {
      t.opt.dispose();
      t.model.dispose();
    }
  }
}

async function main() {
  const peer = Peer.start();
  if (typeof peer === 'string') console.log(`[skip] PyTorch peer: ${peer}`);
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`# CPU training step, MDMT heads, batch ${N} at ${S}², ${threads} threads, ${ROUNDS} rounds × ${STEPS} steps per engine; load ${load()}`);
  console.log('| model | eager ms | planned ms | PyTorch ms | planned vs eager | planned vs PyTorch | CPU ms eager / planned / PyTorch | CPU: vs eager, vs PyTorch |');
  console.log('|---|---|---|---|---|---|---|---|');
  const rows: Awaited<ReturnType<typeof benchModel>>[] = [];
  const f = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(1));
  const x = (a: number, b: number) => (Number.isNaN(a / b) ? '–' : `${(a / b).toFixed(2)}×`);
  for (const m of MODELS) {
    const r = await benchModel(m, typeof peer === 'string' ? null : peer);
    rows.push(r);
    console.log(`| ${m} | ${f(r.eager)} | ${f(r.planned)} | ${f(r.torch)} | ${x(r.eager, r.planned)} | ${x(r.torch, r.planned)} | ` +
      `${f(r.cpuEager)} / ${f(r.cpuPlanned)} / ${f(r.cpuTorch)} | ${x(r.cpuEager, r.cpuPlanned)}, ${x(r.cpuTorch, r.cpuPlanned)} |`);
  }
  const geo = (g: (r: (typeof rows)[number]) => number) => Math.exp(rows.reduce((s, r) => s + Math.log(g(r)), 0) / rows.length);
  console.log(`| geomean | | | | ${geo((r) => r.eager / r.planned).toFixed(2)}× | ${typeof peer === 'string' ? '–' : geo((r) => r.torch / r.planned).toFixed(2) + '×'} | | ` +
    `${geo((r) => r.cpuEager / r.cpuPlanned).toFixed(2)}×, ${typeof peer === 'string' ? '–' : geo((r) => r.cpuTorch / r.cpuPlanned).toFixed(2) + '×'} |`);
  console.log(`# load at the end ${load()}`);
  if (typeof peer !== 'string') peer.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
