/**
 * MDMT training-step throughput on the GPU (issues 6 and 14): for each backbone, one step =
 * a batch (N×3×S×S images, labels, task masks) in, forward through the shared backbone and
 * both heads, the two indicator-masked cross-entropies, backward, Adam (lr 1e-3, weight
 * decay 1e-4). Reports images/s (batch / median step time after warm-up, each step ended by
 * a device sync) and memory: the peak of live device memory (tensors and plan arenas), the
 * allocator's cache, and the device's used bytes at the end (everything: caches, workspaces,
 * a CUDA graph's own pool, the CUDA context).
 *
 *   MDMT_ADDON=prebuilds/linux-x64/mdmt.napi.glibc.node node dist/bench/gpu/step.js
 *     [--models a,b] [--batch 128] [--size 256] [--steps 10] [--warmup 3] [--json out.jsonl]
 *     [--mode eager|compiled] [--precision fp32|bf16] [--graph] [--device cuda:0]
 * eager: one N-API call per op (fp32, TF32 unless MDMT_TF32=0). compiled: the step recorded
 * once and replayed (ts/plan), with bf16 + NHWC (--precision bf16) and as one CUDA graph
 * (--graph) on request. The warm-up covers the recording, cuDNN's autotuning and the capture.
 */
import * as fs from 'fs';
import { backward } from '../../ts/autograd/tape';
import { listModels, MDMTModel } from '../../ts/models';
import { native } from '../../ts/native/binding';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim';
import { compileStep } from '../../ts/plan/step';
import { tensor, Tensor, tidy } from '../../ts/tensor';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    console.error(`bench/gpu/step: --${name} must be one of ${allowed.join(' | ')}, got '${v}'`);
    process.exit(2);
  }
  return v as T;
}

const DEV = arg('device', 'cuda:0');
const N = Number(arg('batch', '128'));
const S = Number(arg('size', '256'));
const STEPS = Number(arg('steps', '10'));
const WARM = Number(arg('warmup', '3'));
const MODELS = arg('models', listModels().filter((m) => m !== 'resnext50_32x4d').join(',')).split(',');
const JSON_OUT = arg('json', '');
const MODE = oneOf('mode', arg('mode', 'eager'), ['eager', 'compiled'] as const);
const PRECISION = oneOf('precision', arg('precision', 'fp32'), ['fp32', 'bf16'] as const);
const GRAPH = process.argv.includes('--graph');
if (MODE === 'eager' && (PRECISION !== 'fp32' || GRAPH)) {
  console.error('bench/gpu/step: --precision bf16 and --graph need --mode compiled');
  process.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The batch every step sees: fixed pixels, half the rows τ1 (2 classes), half τ2 (4 classes). */
type HostInput = { data: Float32Array | Int32Array; shape: readonly number[] };
function hostBatch(): HostInput[] {
  const img = new Float32Array(N * 3 * S * S);
  for (let i = 0; i < img.length; i++) img[i] = ((i * 2654435761) % 1000) / 500 - 1;
  const isAfc = Float32Array.from({ length: N }, (_, i) => i % 2);
  const isBx = Float32Array.from(isAfc, (m) => 1 - m);
  const afcY = Int32Array.from(isAfc, (m, i) => (m ? i % 2 : -1));
  const bxY = Int32Array.from(isBx, (m, i) => (m ? i % 4 : -1));
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

const rows: ReturnType<typeof benchOne>[] = [];
for (const m of MODELS) {
  try {
    const r = benchOne(m);
    rows.push(r);
    console.log(JSON.stringify(r));
    if (JSON_OUT) fs.appendFileSync(JSON_OUT, JSON.stringify(r) + '\n');
  } catch (e) {
    const err = { engine: 'mdmt', model: m, error: `${(e as { code?: string }).code ?? ''} ${(e as Error).message}` };
    console.log(JSON.stringify(err));
    if (JSON_OUT) fs.appendFileSync(JSON_OUT, JSON.stringify(err) + '\n');
  }
}
console.log('\n| backbone | mode | params (M) | images/s | step ms | peak live GiB | device used GiB |\n|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.model} | ${r.mode} | ${r.params_m} | ${r.images_per_s} | ${r.step_ms} | ${r.peak_live_gib} | ${r.device_used_gib} |`);
