/**
 * MDMT training-step throughput on the GPU (issue 6): for each backbone, one step =
 * upload a batch (N×3×S×S images, labels, task masks), forward through the shared
 * backbone and both heads, the two indicator-masked cross-entropies, backward, Adam
 * (lr 1e-3, weight decay 1e-4). Reports images/s (batch / median step time after warm-up,
 * each step ended by a device sync) and the peak of live device memory.
 *
 *   MDMT_ADDON=build-gpu/mdmt.node node dist/bench/gpu/step.js [--models a,b] [--batch 128]
 *     [--size 256] [--steps 10] [--warmup 3] [--json out.jsonl]
 * Eager mode (one N-API call per op); fp32 with TF32 unless MDMT_TF32=0.
 */
import * as fs from 'fs';
import { backward } from '../../ts/autograd/tape';
import { listModels, MDMTModel } from '../../ts/models';
import { native } from '../../ts/native/binding';
import { add } from '../../ts/ops/add';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim';
import { tensor, tidy } from '../../ts/tensor';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const DEV = arg('device', 'cuda:0');
const N = Number(arg('batch', '128'));
const S = Number(arg('size', '256'));
const STEPS = Number(arg('steps', '10'));
const WARM = Number(arg('warmup', '3'));
const MODELS = arg('models', listModels().filter((m) => m !== 'resnext50_32x4d').join(',')).split(',');
const JSON_OUT = arg('json', '');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function benchOne(name: string) {
  const n = native();
  const model = new MDMTModel(name).to(DEV);
  model.train();
  const opt = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-4 });
  const params = model.parameters().reduce((a, p) => a + p.size, 0);
  const img = new Float32Array(N * 3 * S * S);
  for (let i = 0; i < img.length; i++) img[i] = ((i * 2654435761) % 1000) / 500 - 1;
  const isAfc = Float32Array.from({ length: N }, (_, i) => (i % 2));
  const isBx = Float32Array.from(isAfc, (m) => 1 - m);
  const afcY = Int32Array.from(isAfc, (m, i) => (m ? i % 2 : -1));
  const bxY = Int32Array.from(isBx, (m, i) => (m ? i % 4 : -1));
  const times: number[] = [];
  let loss = NaN;
  n.sync(DEV);
  n.memStats(DEV, true);
  const t0 = Date.now();
  for (let s = 0; s < WARM + STEPS; s++) {
    const a = process.hrtime.bigint();
    tidy(() => {
      const x = tensor(img, [N, 3, S, S], { device: DEV });
      const { afc, bx } = model.forward(x);
      const l = add(
        maskedXent(afc, tensor(afcY, [N], { dtype: 'int32', device: DEV }), tensor(isAfc, [N], { device: DEV })),
        maskedXent(bx, tensor(bxY, [N], { dtype: 'int32', device: DEV }), tensor(isBx, [N], { device: DEV })));
      backward(l);
      opt.step();
      opt.zeroGrad();
      if (s === WARM + STEPS - 1) loss = l.item();
    });
    n.sync(DEV);
    const ms = Number(process.hrtime.bigint() - a) / 1e6;
    if (s >= WARM) times.push(ms);
  }
  const mem = n.memStats(DEV);
  const med = median(times);
  const r = {
    model: name, device: DEV, batch: N, size: S, params_m: +(params / 1e6).toFixed(2), step_ms: +med.toFixed(2),
    images_per_s: +(N / (med / 1000)).toFixed(1), peak_live_gib: +(mem.peakBytes / 2 ** 30).toFixed(2),
    cached_gib: +(mem.cachedBytes / 2 ** 30).toFixed(2), loss: +loss.toFixed(4), first_steps_s: +((Date.now() - t0) / 1000).toFixed(1),
    tf32: process.env.MDMT_TF32 !== '0',
  };
  opt.zeroGrad();
  model.dispose();
  return r;
}

const rows: ReturnType<typeof benchOne>[] = [];
for (const m of MODELS) {
  try {
    const r = benchOne(m);
    rows.push(r);
    console.log(JSON.stringify(r));
    if (JSON_OUT) fs.appendFileSync(JSON_OUT, JSON.stringify(r) + '\n');
  } catch (e) {
    const err = { model: m, error: `${(e as { code?: string }).code ?? ''} ${(e as Error).message}` };
    console.log(JSON.stringify(err));
    if (JSON_OUT) fs.appendFileSync(JSON_OUT, JSON.stringify(err) + '\n');
  }
}
console.log('\n| backbone | params (M) | images/s | step ms | peak live GiB |\n|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.model} | ${r.params_m} | ${r.images_per_s} | ${r.step_ms} | ${r.peak_live_gib} |`);
