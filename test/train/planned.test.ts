// train() on compiled steps (the default) equals train() op by op (eager: true): an MDMT run
// (mixed batches, both heads, dropout, BatchNorm) from the same STL weights, with the τ1
// cross-entropy and with the authors' MSE (its targets come in as step inputs), gives the same per-epoch losses,
// validation metrics and test metrics (tolerance 1e-5 relative: the fused BatchNorm kernels
// keep the unfused arithmetic, so the runs match to the last bits in practice).
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { train, type TrainResult } from '../../ts/train/train';
import { assertClose, deviceAvailable } from '../helpers';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';

const on = deviceAvailable('train/planned');

function same(a: TrainResult, b: TrainResult, label: string): void {
  assert.is(a.history.length, b.history.length, `${label}: epochs`);
  const nums = (r: TrainResult) => r.history.flatMap((h) => [h.trainLoss, h.valLoss, h.valAcc ?? 0]);
  assertClose(nums(a), nums(b), { atol: 1e-6, rtol: 1e-5 }, `${label}: per-epoch losses and accuracy`);
  assert.is(a.best.epoch, b.best.epoch, `${label}: best epoch`);
  assert.equal(a.metrics.cm, b.metrics.cm, `${label}: test confusion matrix`);
}

test('compiled and eager train() agree: MDMT from two STL runs, with cross-entropy and with the τ1 MSE', async () => {
  if (!on) return;
  const dir = tmpDir('planned');
  const base = { ...(await tinyBase()), schedule: { maxEpochs: 2, warmupEpochs: 0, earlyStopping: 5, plateauPatience: 1 } };
  const run = (name: string, extra: object, eager: boolean) =>
    train({ ...base, backbone: BACKBONE, outDir: path.join(dir, `${name}-${eager ? 'eager' : 'planned'}`), eager, ...extra } as Parameters<typeof train>[0]);
  const afc = await run('afc', { experiment: 'stl_afc' }, false);
  const bx = await run('bx', { experiment: 'stl_bx' }, false);
  const init = { init: { stlAfc: afc.bestPath, stlBx: bx.bestPath } };
  same(await run('mdmt', { experiment: 'mdmt', ...init }, false), await run('mdmt', { experiment: 'mdmt', ...init }, true), 'mdmt');
  same(await run('mse', { experiment: 'mdmt', afcLoss: 'mse', ...init }, false), await run('mse', { experiment: 'mdmt', afcLoss: 'mse', ...init }, true), 'mdmt with the τ1 MSE');
});

test.run();
