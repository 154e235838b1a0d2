// train(): one tiny run end to end — history, warm-up gating, run-directory files, flat
// live-tensor count across epochs and none left after the run, a finished directory returned
// without retraining, a directory of another configuration refused, config errors naming
// the field, a caller's throwing hook.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { loadSafetensors, saveSafetensors } from '../../ts/io/safetensors';
import { liveTensorCount } from '../../ts/tensor';
import { resolveTrainConfig } from '../../ts/train/config';
import { RUN_FILES, train, type TrainResult } from '../../ts/train/train';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';
import { deviceAvailable } from '../helpers';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/train');

let out: string;
let r: TrainResult;

test('a tiny STL τ2 run: history, warm-up gating, files, no leaks', async () => {
  if (!on) return;
  out = path.join(tmpDir('train'), 'run');
  const live = liveTensorCount();
  r = await train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_bx', outDir: out, schedule: { maxEpochs: 3, warmupEpochs: 1, earlyStopping: 5 } });
  assert.is(liveTensorCount(), live, 'every tensor of the run is freed');
  assert.is(r.history.length, 3);
  assert.equal(r.history.map((h) => h.epoch), [1, 2, 3]);
  assert.is(r.history[0].isBest, false, 'no best model during warm-up');
  assert.ok(r.best.selected && r.best.epoch >= 2, `best epoch ${r.best.epoch} after warm-up`);
  const lt = r.history.map((h) => (h as unknown as { liveTensors: number }).liveTensors);
  assert.ok(lt.every((n) => n === lt[0]), `live tensors flat across epochs: ${lt}`);
  for (const h of r.history) assert.ok(Number.isFinite(h.trainLoss) && Number.isFinite(h.valLoss) && h.valBxLoss !== undefined);
  assert.is(r.result.experiment, 'stl_bx');
  assert.is(r.metrics.cm.length, 4, 'τ2 confusion matrix is 4×4');
  const n = r.metrics.cm.flat().reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(r.metrics.test.acc - r.metrics.cm.reduce((s, row, i) => s + row[i], 0) / n) < 1e-12);
  for (const f of Object.values(RUN_FILES)) assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
  for (const p of ['train', 'val', 'test']) assert.ok(fs.existsSync(path.join(out, 'split', 'BX', `${p}.txt`)));
  const log = fs.readFileSync(path.join(out, RUN_FILES.log), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { valLoss: number });
  assert.is(log.length, 3);
  assert.is(log[2].valLoss, r.history[2].valLoss);
  const ck = loadSafetensors(r.checkpointPath);
  assert.is(ck.metadata.epoch, '3');
  assert.ok([...ck.tensors.keys()].some((k) => k.startsWith('optim.m.')) && [...ck.tensors.keys()].some((k) => k.startsWith('model.')));
  assert.ok((JSON.parse(ck.metadata.rng) as { global: number[] }).global.length === 5, 'RNG state stored');
  for (const t of ck.tensors.values()) t.dispose();
});

test('a finished run directory is returned as is, not retrained', async () => {
  if (!on) return;
  const before = fs.statSync(path.join(out, RUN_FILES.log)).mtimeMs;
  const again = await train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_bx', outDir: out, schedule: { maxEpochs: 3, warmupEpochs: 1, earlyStopping: 5 } });
  assert.equal(again.metrics, r.metrics);
  assert.is(fs.statSync(path.join(out, RUN_FILES.log)).mtimeMs, before, 'log untouched');
});

test('a resumed run removes the temporary files a killed writer left; a checkpoint whose history disagrees with its epoch is named', async () => {
  if (!on) return;
  const copy = path.join(tmpDir('train-resume'), 'run');
  fs.cpSync(out, copy, { recursive: true });
  fs.rmSync(path.join(copy, RUN_FILES.result));
  // what a SIGKILL during a checkpoint write leaves: stayed for good, as large as a checkpoint
  const stale = path.join(copy, '.checkpoint.safetensors.tmp-99999999');
  fs.writeFileSync(stale, 'partial');
  const ck = loadSafetensors(path.join(copy, RUN_FILES.checkpoint));
  const state = JSON.parse(ck.metadata.state) as { epoch: number };
  saveSafetensors(path.join(copy, RUN_FILES.checkpoint), ck.tensors, { ...ck.metadata, state: JSON.stringify({ ...state, epoch: 7 }) });
  for (const t of ck.tensors.values()) t.dispose();
  const logs: string[] = [];
  const e = await train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_bx', outDir: copy, schedule: { maxEpochs: 3, warmupEpochs: 1, earlyStopping: 5 } }, { onLog: (m) => logs.push(m) })
    .then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'EDATA');
  assert.match(e.message, `${path.join(copy, RUN_FILES.checkpoint)}: its history holds epochs [1, 2, 3], not 1..7`);
  assert.not.ok(fs.existsSync(stale), 'the stale temporary file is gone');
  assert.ok(logs.some((m) => m.includes('removed .checkpoint.safetensors.tmp-99999999')), logs.join('\n'));
});

test('a run directory of another configuration is refused', async () => {
  if (!on) return;
  try {
    await train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_bx', outDir: out, seed: 9 });
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, MdmtError);
    assert.is((e as MdmtError).code, 'ECONFIG');
    assert.match((e as Error).message, out);
  }
});

test('config errors name the field', () => {
  const where = path.join(tmpDir('cfg'), 'run'); // resolveTrainConfig touches no file
  const ok = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: where, data: { afc: where } };
  assert.throws(() => resolveTrainConfig({ ...ok, batchSize: 0 }), /config\.batchSize/);
  assert.throws(() => resolveTrainConfig({ ...ok, experiment: 'nope' as never }), /config\.experiment/);
  assert.throws(() => resolveTrainConfig({ ...ok, optim: { lr: -1 } }), /config\.optim\.lr/);
  assert.throws(() => resolveTrainConfig({ ...ok, schedule: { plateauFactor: 1.5 } }), /config\.schedule\.plateauFactor/);
  assert.throws(() => resolveTrainConfig({ ...ok, data: {} }), /config\.data/);
  assert.throws(() => resolveTrainConfig({ ...ok, device: 'tpu' }), /config\.device/);
  assert.throws(() => resolveTrainConfig({ ...ok, precision: 'fp16' as never }), /config\.precision must be one of fp32 \| bf16/);
  assert.throws(() => resolveTrainConfig({ ...ok, precision: 'bf16', device: 'cpu' }), /config\.precision is 'bf16' but the device is cpu/);
  assert.throws(() => resolveTrainConfig({ ...ok, precision: 'bf16', device: 'cuda', eager: true }), /config\.precision is 'bf16' but eager is set/);
  assert.is(resolveTrainConfig({ ...ok, precision: 'bf16', device: 'cuda' }).precision, 'bf16');
  const d = resolveTrainConfig(ok);
  assert.is(d.precision, 'fp32');
  assert.equal([d.optim.lr, d.optim.weightDecay, d.schedule.warmupEpochs, d.schedule.earlyStopping, d.schedule.maxEpochs, d.batchSize, d.imageSize],
    [1e-3, 1e-4, 40, 40, 300, 128, 256], "the paper's defaults");
  assert.equal([d.schedule.plateauPatience, d.schedule.plateauFactor, d.schedule.minLr, d.lossNormalize, d.afcLoss, d.beta], [15, 0.65, 1e-8, 'batch', 'ce', 0.5]);
});

test('train() on MDMT with the authors\' MSE τ1 loss runs and logs both validation losses', async () => {
  if (!on) return;
  const dir = tmpDir('train-mdmt');
  const base = await tinyBase();
  const a = await train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(dir, 'a'), schedule: { maxEpochs: 1, warmupEpochs: 0 } });
  const m = await train({ ...base, backbone: BACKBONE, experiment: 'mdmt', outDir: path.join(dir, 'm'), afcLoss: 'mse', lossNormalize: 'masked',
    init: { stlAfc: a.bestPath, stlBx: r.bestPath }, schedule: { maxEpochs: 2, warmupEpochs: 0 } });
  assert.ok(m.history.every((h) => h.valAfcLoss !== undefined && h.valBxLoss !== undefined));
  // 'masked' normalisation: the total is the sum of the per-task means
  for (const h of m.history) assert.ok(Math.abs(h.valLoss - (h.valAfcLoss! + h.valBxLoss!)) < 1e-9);
  assert.ok(m.metrics.bx && m.metrics.bxCm, 'MDMT reports τ2 too');
  assert.is(m.metrics.cm.length, 2);
});

test('a throwing onEnd hook frees the run\'s tensors and does not hide the run\'s own error', async () => {
  if (!on) return;
  const base = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, schedule: { maxEpochs: 1, warmupEpochs: 1 } };
  const live = liveTensorCount();
  const dir = path.join(tmpDir('train-hook'), 'run');
  const e = await train({ ...base, outDir: dir }, { onEnd() { throw new Error('hook: onEnd'); } }).then(() => undefined, (x: unknown) => x);
  assert.is((e as Error).message, 'hook: onEnd', 'the caller\'s error is surfaced');
  assert.is(liveTensorCount(), live, 'model, optimiser and plans are freed all the same');
  assert.ok(fs.existsSync(path.join(dir, RUN_FILES.result)), 'the run finished: its result stands');
  assert.ok(fs.existsSync((await train({ ...base, outDir: dir })).bestPath), 'and is returned as is');
  const e2 = await train({ ...base, outDir: path.join(tmpDir('train-hook2'), 'run') }, {
    onStart() { throw new Error('hook: onStart'); },
    onEnd() { throw new Error('hook: onEnd'); },
  }).then(() => undefined, (x: unknown) => x);
  assert.is((e2 as Error).message, 'hook: onStart', 'the error that stopped the run, not onEnd\'s');
  assert.is(liveTensorCount(), live);
});

test('an async hook is awaited: its rejection stops train() with its error, as a throwing hook does (it was unhandled and ended the process)', async () => {
  if (!on) return;
  const base = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, schedule: { maxEpochs: 2, warmupEpochs: 1 } };
  const live = liveTensorCount();
  const unhandled: unknown[] = [];
  const onUnhandled = (x: unknown) => unhandled.push(x);
  process.on('unhandledRejection', onUnhandled);
  try {
    const dir = path.join(tmpDir('train-async-hook'), 'run');
    const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- an async hook is what is tested
    const e = await train({ ...base, outDir: dir }, { async onEpoch(rec) { await sleep(5); throw new Error(`hook: epoch ${rec.epoch}`); } })
      .then(() => undefined, (x: unknown) => x);
    assert.is((e as Error | undefined)?.message, 'hook: epoch 1');
    assert.not.ok(fs.existsSync(path.join(dir, RUN_FILES.result)), 'the run stopped after epoch 1');
    assert.is(liveTensorCount(), live);
    // each batch's async work is done before the epoch ends
    let started = 0, done = 0;
    const seen: [number, number][] = [];
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- as above
    await train({ ...base, outDir: dir }, { async onBatch() { started++; await sleep(2); done++; }, onEpoch: () => seen.push([started, done]) });
    assert.ok(seen.length === 1 && seen[0][0] > 0 && seen[0][1] === seen[0][0], JSON.stringify(seen));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.equal(unhandled, []);
});

test('a fixed τ1 fraction (mixing.afcFraction) shapes MDMT batches only: an STL job of such a sweep trains as a plain STL run', async () => {
  if (!on) return;
  // 7 does not divide the training part: the fixed-fraction plan filled the short last batch with repeats
  const base = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, batchSize: 7, schedule: { maxEpochs: 1, warmupEpochs: 0 } };
  const dir = tmpDir('train-mix');
  const plain = await train({ ...base, outDir: path.join(dir, 'plain') });
  const mixed = await train({ ...base, outDir: path.join(dir, 'mixed'), mixing: { afcFraction: 0.5 } });
  const n = fs.readFileSync(path.join(dir, 'plain', 'split', 'AFC', 'train.txt'), 'utf8').trim().split('\n').length - 1;
  assert.ok(n % 7 > 1, `a short last batch that is trained (${n} records)`);
  assert.is(mixed.history[0].trainLoss, plain.history[0].trainLoss);
});

test('trainLoss is the mean over the epoch\'s samples: each batch loss weighted by its size (a short last batch does not count as a full one)', async () => {
  if (!on) return;
  const dir = path.join(tmpDir('trainloss'), 'run');
  const losses: number[] = [];
  const res = await train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_bx', outDir: dir, batchSize: 6, schedule: { maxEpochs: 1, warmupEpochs: 0 } },
    { onBatch: (b) => losses.push(b.loss) });
  const n = fs.readFileSync(path.join(dir, 'split', 'BX', 'train.txt'), 'utf8').trim().split('\n').length - 1;
  const sizes = Array.from({ length: Math.ceil(n / 6) }, (_, i) => Math.min(6, n - 6 * i)).filter((k) => k > 1); // a 1-sample batch is skipped
  assert.ok(sizes[sizes.length - 1] < 6, `a short last batch (${n} records in batches of 6)`);
  assert.is(losses.length, sizes.length);
  const want = losses.reduce((a, l, i) => a + l * sizes[i], 0) / sizes.reduce((a, k) => a + k, 0);
  assert.ok(Math.abs(res.history[0].trainLoss - want) <= 1e-12 * Math.abs(want), `${res.history[0].trainLoss} vs ${want}`);
});

test.run();
