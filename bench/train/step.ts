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
 * planned step's time per op, after the table; BENCH_PROFILE=shapes adds the 40 costliest
 * op × shape rows). A backbone the peer cannot build (efficientnets need timm) gets its mdmt
 * columns and the peer's reason.
 */
import { ChildProcessByStdio, spawn, spawnSync } from 'child_process';
import type { Readable, Writable } from 'stream';
import * as readline from 'readline';
import { native } from '../../ts/native/binding';
import { setDropoutSeed } from '../../ts/ops/dropout';
import type { PlanExecutor } from '../../ts/plan/executor';
import { compileStep } from '../../ts/plan/step';
import { tensor, tidy } from '../../ts/tensor';
// the model, optimiser, step function and batch of the plan tests: what is timed is what is tested
import { batch, trainee, type Trainee } from '../../test/plan/_fixture';
import { checkSize, parseSettings } from '../lib/args';
import { geomean, loadAverage, median, printPreamble } from '../lib/report';

const cfg = parseSettings('bench/train/step', (a) => {
  const c = {
    models: a.models('BENCH_MODELS', ['resnet18', 'resnet50', 'mobilenet_v2', 'densenet121', 'shufflenet_v2_x1_0', 'googlenet']),
    // a training step of one sample cannot run BatchNorm (one value per channel), as train() refuses batchSize 1
    batch: a.int('BENCH_BATCH', 8, { min: 2 }),
    size: a.int('BENCH_SIZE', 128, { min: 1 }),
    rounds: a.int('BENCH_ROUNDS', 5, { min: 1 }),
    steps: a.int('BENCH_STEPS', 2, { min: 1 }),
    python: a.str('BENCH_PYTHON', '/usr/bin/python3'),
    profile: a.choice('BENCH_PROFILE', '0', ['0', '1', 'shapes'] as const),
  };
  checkSize(c.models, c.size, 'BENCH_SIZE');
  return c;
});
const N = cfg.batch, S = cfg.size, ROUNDS = cfg.rounds, STEPS = cfg.steps;
const threads = native().setThreads(); // MDMT_NUM_THREADS or the machine's cores

/** The PyTorch peer as a line-protocol child process (or the reason it cannot run). */
class Peer {
  private lines: AsyncIterator<string>;
  /** why the peer can take no more commands (it exited, or answered out of protocol) */
  private broken = '';
  private constructor(private proc: ChildProcessByStdio<Writable, Readable, null>, readonly version: string) {
    this.lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }
  static start(): Peer | string {
    const probe = spawnSync(cfg.python, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      const why = (probe.stderr || '').trim().split('\n').pop() || probe.error?.message || `exit status ${probe.status ?? probe.signal}`;
      return `${cfg.python} has no torch/torchvision (${why})`;
    }
    const proc = spawn(cfg.python, [`${__dirname}/../../../bench/peers/torch_cpu_step.py`], { stdio: ['pipe', 'pipe', 'inherit'] });
    proc.stdin.on('error', () => {}); // a peer that died: the next answer reports it
    return new Peer(proc, probe.stdout.trim());
  }
  /** One command, its one-line JSON answer; an error names the command and what came back. */
  async ask(cmd: string): Promise<Record<string, unknown>> {
    if (this.broken) throw new Error(this.broken);
    this.proc.stdin.write(cmd + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error((this.broken = 'the PyTorch peer exited'));
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(r.value as string) as Record<string, unknown>;
    } catch {
      // out of step with the protocol from here on: no further commands
      throw new Error((this.broken = `the PyTorch peer answered '${cmd}' with a line that is not JSON: '${(r.value as string).slice(0, 200)}'`));
    }
    if (o.error) throw new Error(`PyTorch peer: ${String(o.error as string)}`);
    return o;
  }
  close(): void {
    if (this.proc.exitCode === null) this.proc.stdin.end('quit\n');
  }
}

/** BENCH_PROFILE=1: the planned step's time per op (summed over STEPS steps; the executor's own clock, wall ms), as lines. */
function profilePlan(name: string, plan: PlanExecutor, run: () => void): string[] {
  plan.profile(true);
  for (let i = 0; i < STEPS; i++) run();
  const byOp = new Map<string, number>();
  for (const r of plan.profile(false)) byOp.set(r.op, (byOp.get(r.op) ?? 0) + r.ms / STEPS);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const top = [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 8);
  const out = [`# ${name} planned step by op (ms per step, wall): ${top.map(([op, ms]) => `${op} ${ms.toFixed(1)} (${((100 * ms) / total).toFixed(0)}%)`).join(', ')}; total ${total.toFixed(1)}`];
  if (cfg.profile !== 'shapes') return out;
  plan.profile(true);
  for (let i = 0; i < STEPS; i++) run();
  const byShape = new Map<string, number>();
  for (const r of plan.profile(false)) {
    const key = `${r.op} ${r.shapes.length > 160 ? r.shapes.slice(0, 157) + '...' : r.shapes}`;
    byShape.set(key, (byShape.get(key) ?? 0) + r.ms / STEPS);
  }
  for (const [k, ms] of [...byShape].sort((a, b) => b[1] - a[1]).slice(0, 40)) out.push(`#   ${ms.toFixed(2).padStart(7)} ms  ${k}`);
  return out;
}

/** wall and process CPU milliseconds of f (CPU: all threads; less distorted by a loaded machine) */
const timed = (f: () => void): [number, number] => {
  const t = process.hrtime.bigint(), c = process.cpuUsage();
  f();
  const d = process.cpuUsage(c);
  return [Number(process.hrtime.bigint() - t) / 1e6, (d.user + d.system) / 1000];
};

/** One backbone: median wall and CPU ms of each engine (NaN for PyTorch when skipped: `peerSkip` says why), the profile lines. */
async function benchModel(name: string, peer: Peer | null) {
  const data = batch(0, N, S);
  const eager = trainee(name), planned = trainee(name);
  const step = compileStep(planned.step);
  const runEager = () => tidy(() => eager.step(data.map((d) => ('data' in d ? tensor(d.data, d.shape) : d)))[0].item());
  const runPlanned = () => tidy(() => step.run(data)[0].item());
  let peerSkip = '';
  const skipPeer = (e: unknown) => {
    peerSkip = (e as Error).message;
    peer = null;
  };
  try {
    await peer?.ask(`load ${name} ${N} ${S} ${threads}`).catch(skipPeer);
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
        const r = await peer?.ask(`steps ${STEPS}`).catch(skipPeer);
        if (!r) return;
        ms.torch.push(...(r.ms as number[]));
        cpu.torch.push(...(r.cpu as number[]));
      }] : [])];
    for (let r = 0; r < ROUNDS; r++) for (let k = 0; k < engines.length; k++) await engines[(r + k) % engines.length]();
    if (peerSkip) ms.torch = cpu.torch = []; // a peer that failed midway: no partial figures
    const profile = cfg.profile === '0' ? [] : profilePlan(name, step.cached[0], runPlanned);
    const m = (e: Engine) => median(ms[e]), c = (e: Engine) => median(cpu[e]);
    return { name, eager: m('eager'), planned: m('planned'), torch: m('torch'), cpuEager: c('eager'), cpuPlanned: c('planned'), cpuTorch: c('torch'), peerSkip, profile };
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
  printPreamble(threads);
  console.log(`# CPU training step, MDMT heads, batch ${N} at ${S}², ${threads} threads, ${ROUNDS} rounds × ${STEPS} steps per engine; ` +
    `PyTorch ${typeof peer === 'string' ? `skipped: ${peer}` : `${peer.version} (${cfg.python})`}`);
  console.log('| model | eager ms | planned ms | PyTorch ms | planned vs eager | planned vs PyTorch | CPU ms eager / planned / PyTorch | CPU: vs eager, vs PyTorch |');
  console.log('|---|---|---|---|---|---|---|---|');
  const rows: Awaited<ReturnType<typeof benchModel>>[] = [];
  const f = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(1));
  const x = (a: number, b: number) => (Number.isNaN(a / b) ? '–' : `${(a / b).toFixed(2)}×`);
  try {
    for (const m of cfg.models) {
      const r = await benchModel(m, typeof peer === 'string' ? null : peer);
      rows.push(r);
      console.log(`| ${m} | ${f(r.eager)} | ${f(r.planned)} | ${r.peerSkip ? 'skipped¹' : f(r.torch)} | ${x(r.eager, r.planned)} | ${x(r.torch, r.planned)} | ` +
        `${f(r.cpuEager)} / ${f(r.cpuPlanned)} / ${f(r.cpuTorch)} | ${x(r.cpuEager, r.cpuPlanned)}, ${x(r.cpuTorch, r.cpuPlanned)} |`);
    }
  } finally {
    if (typeof peer !== 'string') peer.close();
  }
  const withPeer = rows.filter((r) => !Number.isNaN(r.torch));
  const geo = (rs: typeof rows, g: (r: (typeof rows)[number]) => number) => (rs.length ? `${geomean(rs.map(g)).toFixed(2)}×` : '–');
  console.log(`| geomean | | | | ${geo(rows, (r) => r.eager / r.planned)} | ${geo(withPeer, (r) => r.torch / r.planned)} | | ` +
    `${geo(rows, (r) => r.cpuEager / r.cpuPlanned)}, ${geo(withPeer, (r) => r.cpuTorch / r.cpuPlanned)} |`);
  if (withPeer.length && withPeer.length < rows.length) console.log(`(PyTorch geomeans over the ${withPeer.length} of ${rows.length} models it ran)`);
  for (const r of rows) if (r.peerSkip) console.log(`¹ ${r.name}: PyTorch peer skipped: ${r.peerSkip}`);
  for (const r of rows) for (const l of r.profile) console.log(l);
  console.log(`# load at the end ${loadAverage()}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
