// The paper's indicator mask (Eq. 2) in the training step: a batch holding only one data set
// trains only that data set's head — the other head's gradients are exactly zero — and the
// step loss equals (Σ_τ1 CE + Σ_τ2 CE) / N computed on the host from the same logits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward, noGrad } from '../../ts/autograd/tape';
import type { Batch } from '../../ts/data/loader';
import { toTensors } from '../../ts/data/loader';
import { MDMTModel } from '../../ts/models/mdmt';
import { Adam } from '../../ts/optim/adam';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tidy, type Tensor } from '../../ts/tensor';
import { ceRow } from '../../ts/train/evaluate';
import { stepLoss } from '../../ts/train/models';
import { DEVICE, deviceAvailable } from '../helpers';
import { BACKBONE } from './_fixture';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/mask');

const S = 32;

/** A batch of n samples; `tasks[i]` 0 = AIforCOVID, 1 = BRIXIA. */
function batch(tasks: number[], seed: number): Batch {
  const n = tasks.length;
  const images = new Float32Array(n * 3 * S * S);
  let x = seed;
  for (let i = 0; i < images.length; i++) images[i] = ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const b: Batch = { epoch: 1, index: 0, n, size: S, images, labels: { afc: new Int32Array(n), bx: new Int32Array(n) },
    masks: { afc: new Float32Array(n), bx: new Float32Array(n) }, datasetIds: Int32Array.from(tasks), ids: tasks.map((_, i) => `s${i}`) };
  tasks.forEach((t, i) => {
    b.labels.afc[i] = t === 0 ? i % 2 : -1;
    b.labels.bx[i] = t === 1 ? i % 4 : -1;
    b.masks.afc[i] = t === 0 ? 1 : 0;
    b.masks.bx[i] = t === 1 ? 1 : 0;
  });
  return b;
}

const cfg = { afcLoss: 'ce' as const, lossNormalize: 'batch' as const };
const gradAbsMax = (ps: [string, Tensor][]) => ps.reduce((mx, [, p]) => (p.grad ? Array.from(p.grad.toArray()).reduce((a, v) => Math.max(a, Math.abs(v)), mx) : mx), 0);
const head = (m: MDMTModel, h: string) => m.namedParameters().filter(([k]) => k.startsWith(`${h}.`));

function gradsAfter(m: MDMTModel, b: Batch): { afc: number; bx: number; backbone: number } {
  tidy(() => {
    const t = toTensors(b, DEVICE);
    backward(stepLoss(m.forward(t.images), t, b, cfg));
  });
  const r = { afc: gradAbsMax(head(m, 'afc_head')), bx: gradAbsMax(head(m, 'bx_head')), backbone: gradAbsMax(head(m, 'backbone')) };
  for (const p of m.parameters()) { p.grad?.dispose(); p.grad = null; }
  return r;
}

test('a τ1-only batch gives the τ2 head zero gradients, and the reverse', () => {
  if (!on) return;
  manualSeed(1);
  const m = new MDMTModel(BACKBONE);
  const live = liveTensorCount();
  const onlyAfc = gradsAfter(m, batch([0, 0, 0, 0, 0, 0], 1));
  assert.is(onlyAfc.bx, 0, 'τ2 head untouched by a τ1-only batch');
  assert.ok(onlyAfc.afc > 0 && onlyAfc.backbone > 0, `τ1 head and backbone get gradients (${onlyAfc.afc}, ${onlyAfc.backbone})`);
  const onlyBx = gradsAfter(m, batch([1, 1, 1, 1, 1, 1], 2));
  assert.is(onlyBx.afc, 0, 'τ1 head untouched by a τ2-only batch');
  assert.ok(onlyBx.bx > 0 && onlyBx.backbone > 0);
  const mixed = gradsAfter(m, batch([0, 1, 1, 0, 1, 1], 3));
  assert.ok(mixed.afc > 0 && mixed.bx > 0, 'a mixed batch trains both heads');
  assert.is(liveTensorCount(), live, 'no tensor leaks');
  m.dispose();
});

test('without weight decay an Adam step on a τ1-only batch leaves the τ2 head unchanged', () => {
  if (!on) return;
  manualSeed(2);
  const m = new MDMTModel(BACKBONE);
  const opt = new Adam(m.parameters(), { lr: 1e-2, weightDecay: 0 });
  const before = new Map(m.namedParameters().map(([k, p]) => [k, Array.from(p.toArray())]));
  const b = batch([0, 0, 0, 0], 4);
  tidy(() => {
    const t = toTensors(b, DEVICE);
    backward(stepLoss(m.forward(t.images), t, b, cfg));
    opt.step();
    opt.zeroGrad();
  });
  for (const [k, p] of m.namedParameters()) {
    const same = Array.from(p.toArray()).every((v, i) => v === before.get(k)![i]);
    if (k.startsWith('bx_head.')) assert.ok(same, `${k} unchanged`);
    if (k.startsWith('afc_head.') && k.endsWith('weight')) assert.ok(!same, `${k} updated`);
  }
  opt.dispose();
  m.dispose();
});

test('the step loss is Eq. 2: (Σ CE over τ1 rows + Σ CE over τ2 rows) / N', () => {
  if (!on) return;
  manualSeed(3);
  const m = new MDMTModel(BACKBONE).eval(); // eval: no dropout, so both forwards agree
  const b = batch([0, 1, 1, 0, 1], 5);
  const [loss, za, zb] = tidy(() => noGrad(() => {
    const t = toTensors(b, DEVICE);
    const out = m.forward(t.images);
    return [stepLoss(out, t, b, cfg).item(), out.afc.toArray(), out.bx.toArray()] as const;
  }));
  let sum = 0;
  for (let i = 0; i < b.n; i++) sum += b.masks.afc[i] ? ceRow(za, i * 2, 2, b.labels.afc[i]) : ceRow(zb, i * 4, 4, b.labels.bx[i]);
  assert.ok(Math.abs(loss - sum / b.n) <= 1e-5 * Math.max(1, sum / b.n), `${loss} vs ${sum / b.n}`);
  m.dispose();
});

test.run();
