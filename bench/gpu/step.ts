/**
 * MDMT training-step throughput on the GPU (issues 6 and 14): for each backbone, one step =
 * a batch (N×3×S×S images, labels, task masks) in, forward through the shared backbone and
 * both heads, the two indicator-masked cross-entropies, backward, Adam (lr 1e-3, weight
 * decay 1e-4). Reports images/s (batch / median step time after warm-up, each step ended by
 * a device sync) and memory: the peak of live device memory (tensors and plan arenas), the
 * allocator's cache, and the device's used bytes at the end (everything: caches, workspaces,
 * a CUDA graph's own pool, the CUDA context).
 *
 * The PyTorch peer (bench/peers/torch_step.py, the same step in its matching mode: fp32 for
 * fp32, bf16 + channels_last for bf16, + its CUDA graph for --graph) runs first in the same
 * run, as a child process that exits (returning the device's memory) before mdmt allocates;
 * the table puts both side by side. A peer failure is reported per backbone; mdmt still runs.
 *
 *   npm run bench:gpu -- [--models a,b] [--batch 128] [--size 256] [--steps 10] [--warmup 3]
 *     [--json out.jsonl] [--mode eager|compiled] [--precision fp32|bf16] [--graph] [--device cuda:0] [--no-peer]
 *   (or MDMT_ADDON=prebuilds/linux-x64/mdmt.napi.glibc.node node dist/bench/gpu/step.js ...)
 * eager: one N-API call per op (fp32, TF32 unless MDMT_TF32=0). compiled: the step recorded
 * once and replayed (ts/plan), with bf16 + NHWC (--precision bf16) and as one CUDA graph
 * (--graph) on request. The warm-up covers the recording, cuDNN's autotuning and the capture.
 * BENCH_PYTHON (/usr/bin/python3) runs the peer. Without a usable CUDA device (the device's
 * reason is printed) nothing is measured and the exit status is 3; `--device cpu` runs mdmt
 * alone on the CPU (a dry run of the plumbing, no peer).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { backward } from '../../ts/autograd/tape';
import { devices } from '../../ts/devices';
import { listModels, MDMTModel } from '../../ts/models';
import { native } from '../../ts/native/binding';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim';
import { compileStep } from '../../ts/plan/step';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { BenchArgError, checkSize, parseSettings } from '../lib/args';
import { geomean, loadAverage, median, printPreamble } from '../lib/report';

/** Exit status when there is no usable CUDA device: nothing was measured (scripts/bench.js skips it in a run of every benchmark). */
const EXIT_NOTHING_MEASURED = 3;

const cfg = parseSettings('bench/gpu/step', (a) => {
  const c = {
    device: a.str('--device', 'cuda:0'),
    batch: a.int('--batch', 128, { min: 1 }),
    size: a.int('--size', 256, { min: 1 }),
    steps: a.int('--steps', 10, { min: 1 }),
    warmup: a.int('--warmup', 3, { min: 0 }),
    models: a.models('--models', listModels().filter((m) => m !== 'resnext50_32x4d')),
    json: a.str('--json', ''),
    mode: a.choice('--mode', 'eager', ['eager', 'compiled'] as const),
    precision: a.choice('--precision', 'fp32', ['fp32', 'bf16'] as const),
    graph: a.flag('--graph'),
    peer: !a.flag('--no-peer'),
    python: a.str('BENCH_PYTHON', '/usr/bin/python3'),
  };
  // a malformed name is a usage error, not "nothing measured" (which a run of every benchmark skips)
  if (!/^(cpu|cuda(:\d{1,2})?)$/.test(c.device)) throw new BenchArgError(`--device must be cpu, cuda or cuda:N, got '${c.device}'`);
  if (c.mode === 'eager' && (c.precision !== 'fp32' || c.graph)) throw new BenchArgError('--precision bf16 and --graph need --mode compiled');
  // the CPU has neither: every backbone failed with EPLAN, under an empty table, exit 0
  if (c.device === 'cpu' && (c.precision !== 'fp32' || c.graph)) throw new BenchArgError(`--precision bf16 and --graph need a CUDA --device, got 'cpu'`);
  checkSize(c.models, c.size, '--size');
  return c;
});
const DEV = cfg.device, N = cfg.batch, S = cfg.size, STEPS = cfg.steps, WARM = cfg.warmup;
const MODE = cfg.mode, PRECISION = cfg.precision, GRAPH = cfg.graph;
/** The peer's mode that matches mdmt's (torch_step.py has no fp32 CUDA graph: fp32 + --graph meets its plain fp32). */
const PEER_MODE = PRECISION === 'bf16' ? (GRAPH ? 'graph' : 'bf16') : 'fp32';

/** The device's reason when `DEV` cannot run this benchmark, else ''. */
function unusable(): string {
  if (DEV === 'cpu') return '';
  const d = devices().find((x) => x.name === DEV || (DEV === 'cuda' && x.name === 'cuda:0'));
  if (!d) return `no device '${DEV}' (devices: ${devices().map((x) => x.name).join(', ')})`;
  return d.available ? '' : (d.reason ?? 'unavailable');
}

function record(r: object): void {
  console.log(JSON.stringify(r));
  if (cfg.json) fs.appendFileSync(cfg.json, JSON.stringify(r) + '\n');
}

/**
 * The batch every step sees: fixed pixels; the even rows τ1 (2 classes, labels 0 1 0 1 ...),
 * the odd rows τ2 (4 classes, 0 1 2 3 ...), as bench/peers/torch_step.py draws them.
 */
type HostInput = { data: Float32Array | Int32Array; shape: readonly number[] };
function hostBatch(): HostInput[] {
  const img = new Float32Array(N * 3 * S * S);
  for (let i = 0; i < img.length; i++) img[i] = ((i * 2654435761) % 1000) / 500 - 1;
  const isAfc = Float32Array.from({ length: N }, (_, i) => 1 - (i % 2));
  const isBx = Float32Array.from(isAfc, (m) => 1 - m);
  const afcY = Int32Array.from(isAfc, (m, i) => (m ? (i >> 1) % 2 : -1));
  const bxY = Int32Array.from(isBx, (m, i) => (m ? (i >> 1) % 4 : -1));
  return [
    { data: img, shape: [N, 3, S, S] }, { data: afcY, shape: [N] }, { data: isAfc, shape: [N] },
    { data: bxY, shape: [N] }, { data: isBx, shape: [N] },
  ];
}

function benchOne(name: string) {
  const n = native();
  const model = new MDMTModel(name).to(DEV);
  model.train();
  const opt = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-4 });
  const params = model.parameters().reduce((a, p) => a + p.size, 0);
  const stepFn = ([x, al, am, bl, bm]: Tensor[]) => {
    const { afc, bx } = model.forward(x);
    const l = add(maskedXent(afc, al, am), maskedXent(bx, bl, bm));
    backward(l);
    opt.step();
    opt.zeroGrad();
    return [l];
  };
  const compiled = MODE === 'compiled' ? compileStep(stepFn, { device: DEV, precision: PRECISION, cudaGraph: GRAPH }) : undefined;
  const data = hostBatch();
  const times: number[] = [];
  let loss = NaN;
  n.sync(DEV);
  n.memStats(DEV, true);
  const t0 = Date.now();
  try {
    for (let s = 0; s < WARM + STEPS; s++) {
      const a = process.hrtime.bigint();
      if (compiled) {
        const [l] = compiled.run(data);
        if (s === WARM + STEPS - 1) loss = l.item();
      } else {
        tidy(() => {
          const ins = data.map((d) => tensor(d.data, d.shape, { device: DEV }));
          const [l] = stepFn(ins);
          if (s === WARM + STEPS - 1) loss = l.item();
        });
      }
      n.sync(DEV);
      const ms = Number(process.hrtime.bigint() - a) / 1e6;
      if (s >= WARM) times.push(ms);
    }
    const mem = n.memStats(DEV);
    const med = median(times);
    const launches = compiled?.cached[0]?.graphLaunches ?? -1;
    return {
      engine: 'mdmt', model: name, mode: `${MODE}${MODE === 'compiled' ? `+${PRECISION}${GRAPH ? '+graph' : ''}` : ''}`, device: DEV,
      batch: N, size: S, params_m: +(params / 1e6).toFixed(2), step_ms: +med.toFixed(2), images_per_s: +(N / (med / 1000)).toFixed(1),
      peak_live_gib: +(mem.peakBytes / 2 ** 30).toFixed(2), cached_gib: +(mem.cachedBytes / 2 ** 30).toFixed(2),
      device_used_gib: +((mem.deviceTotal - mem.deviceFree) / 2 ** 30).toFixed(2), loss: +loss.toFixed(4),
      first_steps_s: +((Date.now() - t0) / 1000).toFixed(1), tf32: process.env.MDMT_TF32 !== '0', graph_launches: launches,
    };
  } finally {
    compiled?.dispose();
    opt.zeroGrad();
    model.dispose();
  }
}

type PeerRow = { model: string; mode: string; images_per_s?: number; step_ms?: number; peak_reserved_gib?: number; error?: string };

/**
 * Runs the PyTorch peer on every backbone (one process; it exits before mdmt starts, so the
 * two never share the device's memory). Each line it prints is echoed; a JSON line is a row or
 * a backbone's error, a '#' line its versions; anything else is an error of the backbone it
 * was measuring. Returns the rows by backbone and the version line.
 */
async function runPeer(): Promise<{ rows: Map<string, PeerRow>; version: string }> {
  const rows = new Map<string, PeerRow>();
  let version = '';
  const script = path.join(__dirname, '..', '..', '..', 'bench', 'peers', 'torch_step.py');
  const args = [script, '--models', cfg.models.join(','), '--modes', PEER_MODE, '--steps', String(STEPS), '--warmup', String(WARM),
    '--batch', String(N), '--size', String(S), '--device', DEV];
  console.log(`# PyTorch peer: ${cfg.python} ${path.relative(process.cwd(), script)} ${args.slice(1).join(' ')}`);
  const proc = spawn(cfg.python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<string>((res) => {
    proc.on('error', (e) => res(e.message));
    proc.on('close', (code, signal) => res(code === 0 ? '' : `exit ${code ?? signal}`));
  });
  let pending = 0; // the index of the backbone the peer is measuring (it reports them in order)
  for await (const line of readline.createInterface({ input: proc.stdout })) {
    const model = cfg.models[Math.min(pending, cfg.models.length - 1)];
    if (line.startsWith('#')) {
      version = line.slice(1).trim();
      console.log(line);
      continue;
    }
    let r: PeerRow | undefined;
    try {
      r = JSON.parse(line) as PeerRow;
    } catch {
      /* reported below */
    }
    if (typeof r?.model !== 'string') r = { model, mode: PEER_MODE, error: `the peer printed a line that is not a JSON row: '${line.slice(0, 200)}'` };
    rows.set(r.model, r);
    record({ engine: 'torch', ...r });
    pending++;
  }
  const why = await exited;
  for (const m of cfg.models) if (!rows.has(m)) rows.set(m, { model: m, mode: PEER_MODE, error: `no result (the peer stopped: ${why || 'no output'})` });
  return { rows, version };
}

async function main(): Promise<void> {
  const why = unusable();
  if (why) {
    console.error(`bench/gpu/step: nothing measured: ${DEV} is not usable: ${why}`);
    process.exit(EXIT_NOTHING_MEASURED);
  }
  const dev = devices().find((d) => d.name === DEV || (DEV === 'cuda' && d.name === 'cuda:0'));
  printPreamble(native().setThreads());
  console.log(`# device ${DEV}: ${dev?.description ?? ''} ${DEV === 'cpu' ? '' : Object.entries(dev?.props ?? {}).filter(([k]) => !/_searched|_path/.test(k)).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const peerOff = !cfg.peer ? '--no-peer' : DEV.startsWith('cuda') ? '' : 'the peer runs on CUDA only';
  const peer = peerOff ? { rows: new Map<string, PeerRow>(), version: `not run (${peerOff})` } : await runPeer();
  const rows: ReturnType<typeof benchOne>[] = [];
  const failed = new Map<string, string>(); // a backbone whose step failed: a row of the table, and exit status 1
  for (const m of cfg.models) {
    try {
      const r = benchOne(m);
      rows.push(r);
      record(r);
    } catch (e) {
      const error = `${(e as { code?: string }).code ?? ''} ${(e as Error).message}`.trim();
      failed.set(m, error);
      record({ engine: 'mdmt', model: m, error });
    }
  }
  const f = (v: number | undefined) => (v === undefined ? '–' : String(v));
  console.log(`\n# batch ${N}, ${S}², median of ${STEPS} steps after ${WARM}; PyTorch: ${peer.version}; load at the end ${loadAverage()}`);
  console.log('| backbone | mode | params (M) | images/s | step ms | peak live GiB | device used GiB | PyTorch mode | PyTorch images/s | mdmt ÷ PyTorch | PyTorch peak reserved GiB |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const ratios: number[] = [];
  for (const r of rows) {
    const p = peer.rows.get(r.model);
    const ratio = p?.images_per_s ? r.images_per_s / p.images_per_s : undefined;
    if (ratio !== undefined) ratios.push(ratio);
    const theirs = p?.error ? `error: ${p.error.slice(0, 80)}` : f(p?.images_per_s);
    console.log(`| ${r.model} | ${r.mode} | ${r.params_m} | ${r.images_per_s} | ${r.step_ms} | ${r.peak_live_gib} | ${r.device_used_gib} | ` +
      `${p ? p.mode : '–'} | ${theirs} | ${ratio === undefined ? '–' : ratio.toFixed(2)} | ${f(p?.peak_reserved_gib)} |`);
  }
  for (const [m, error] of failed) console.log(`| ${m} | ${MODE} | error: ${error.slice(0, 160)} | | | | | | | | |`);
  if (ratios.length) console.log(`geomean mdmt ÷ PyTorch over ${ratios.length} backbone(s): ${geomean(ratios).toFixed(2)}`);
  if (failed.size) {
    console.error(`bench/gpu/step: ${failed.size} of ${cfg.models.length} backbone(s) failed: ${[...failed.keys()].join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
