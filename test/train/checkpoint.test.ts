// The checkpoint keeps the learning rate once, with the optimiser (the schedule only drives
// it), and a checkpoint of the earlier format, which also kept a copy in the schedule state,
// still resumes to the same lr and the same next schedule step.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadSafetensors, saveSafetensors } from '../../ts/io/safetensors';
import { Linear } from '../../ts/nn/layers';
import { Adam } from '../../ts/optim/adam';
import { manualSeed } from '../../ts/random';
import { atomicWriteFile, decodeJson, encodeJson, loadCheckpoint, removeStaleTemps, type RunState, saveCheckpoint, saveWeights } from '../../ts/train/checkpoint';
import { PAPER_OPTIM, PAPER_SCHEDULE } from '../../ts/train/config';
import { EpochSchedule } from '../../ts/train/schedule';
import { deviceAvailable, throwsNaming } from '../helpers';
import { tmpDir } from './_fixture';

const on = deviceAvailable('train/checkpoint');
const CFG = { ...PAPER_SCHEDULE, plateauPatience: 0 };

/** A model, its Adam and its schedule, as train() builds them. */
function run(lr: number) {
  manualSeed(0);
  const net = new Linear(3, 2);
  const { beta1, beta2, eps, weightDecay, decoupled } = PAPER_OPTIM;
  const opt = new Adam(net.parameters(), { lr, betas: [beta1, beta2], eps, weightDecay, decoupled });
  return { net, opt, schedule: new EpochSchedule(opt, CFG), dispose: () => { opt.dispose(); net.dispose(); } };
}

test('the lr is stored once, with the optimiser; an old checkpoint that also kept it in the schedule resumes the same', () => {
  if (!on) return;
  const dir = tmpDir('checkpoint-lr');
  const a = run(PAPER_OPTIM.lr);
  const b = run(1), c = run(1);
  try {
    a.schedule.step(1, 1, 1);
    assert.ok(a.schedule.step(2, 1, 1).lrReduced);
    const state: RunState = { epoch: 2, schedule: a.schedule.state(), history: [], seed: 0, seconds: 0 };
    const file = path.join(dir, 'checkpoint.safetensors');
    saveCheckpoint(file, a.net, a.opt, state);

    const saved = loadSafetensors(file);
    for (const t of saved.tensors.values()) t.dispose();
    const stored = decodeJson<RunState>(saved.metadata.state);
    assert.not.ok('lr' in stored.schedule.plateau, 'no lr in the schedule state');
    assert.is(decodeJson<{ lr: number }>(saved.metadata.optim).lr, PAPER_OPTIM.lr * PAPER_SCHEDULE.plateauFactor);

    b.schedule.load(loadCheckpoint(file, b.net, b.opt).schedule);
    assert.is(b.opt.lr, a.opt.lr, 'the optimiser brings its lr back');

    // the earlier format: the same file with the lr also in the plateau state
    const oldFile = path.join(dir, 'old.safetensors');
    const old = loadSafetensors(file);
    const plateau = { ...stored.schedule.plateau, lr: a.opt.lr };
    saveSafetensors(oldFile, old.tensors, { ...old.metadata, state: encodeJson({ ...stored, schedule: { ...stored.schedule, plateau } }) });
    for (const t of old.tensors.values()) t.dispose();
    c.schedule.load(loadCheckpoint(oldFile, c.net, c.opt).schedule);
    assert.is(c.opt.lr, a.opt.lr);
    assert.is(c.schedule.lr, a.opt.lr);
    const next = a.schedule.step(3, 1, 1);
    assert.equal(b.schedule.step(3, 1, 1), next);
    assert.equal(c.schedule.step(3, 1, 1), next);
  } finally {
    for (const r of [a, b, c]) r.dispose();
  }
});

test('a damaged checkpoint is an EDATA naming the file and what is wrong, not a bare JSON or TypeError message', () => {
  if (!on) return;
  const dir = tmpDir('checkpoint-damaged');
  const a = run(PAPER_OPTIM.lr), b = run(1);
  try {
    a.schedule.step(1, 1, 1);
    const state: RunState = { epoch: 1, schedule: a.schedule.state(), history: [{ epoch: 1, trainLoss: 1, valLoss: 1, lr: 1e-3 }], seed: 0, seconds: 0 };
    const file = path.join(dir, 'checkpoint.safetensors');
    saveCheckpoint(file, a.net, a.opt, state);
    const saved = loadSafetensors(file);
    const damaged = (tag: string, meta: Record<string, string>, tensors = saved.tensors) => {
      const f = path.join(dir, `${tag}.safetensors`);
      saveSafetensors(f, tensors, meta);
      return f;
    };
    const { rng: _rng, ...noRng } = saved.metadata;
    // each was 'undefined is not valid JSON', 'Unterminated string ...' or 'Cannot read properties of undefined', naming no file
    for (const [tag, meta, needle] of [
      ['no-rng', noRng, "metadata 'rng' is missing"],
      ['cut-state', { ...saved.metadata, state: saved.metadata.state.slice(0, 30) }, "metadata 'state' is not JSON"],
      ['no-schedule', { ...saved.metadata, state: encodeJson({ ...state, schedule: undefined }) }, 'schedule'],
      ['bad-epoch', { ...saved.metadata, state: encodeJson({ ...state, epoch: 'x' }) }, 'epoch is "x"'],
      ['bad-history', { ...saved.metadata, state: encodeJson({ ...state, history: 5 }) }, 'history is 5'],
      ['no-lr', { ...saved.metadata, optim: encodeJson({ step: 1 }) }, "'lr'"],
    ] as const) {
      const f = damaged(tag, meta);
      throwsNaming(() => loadCheckpoint(f, b.net, b.opt), f, needle, 'delete it');
    }
    // the model's own check, with the file named
    const wrong = new Map(saved.tensors);
    wrong.set('model.weight', saved.tensors.get('model.bias')!);
    const f = damaged('mis-shaped', saved.metadata, wrong);
    throwsNaming(() => loadCheckpoint(f, b.net, b.opt), f, 'weight');
    for (const t of saved.tensors.values()) t.dispose();
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('a write that fails names the file and leaves no temporary file behind (a full disk kept it, filling the disk)', () => {
  if (!on) return;
  const dir = tmpDir('checkpoint-write');
  // a folder where the file goes: the rename fails after the temporary file is written in full
  for (const name of ['result.json', 'best.safetensors']) fs.mkdirSync(path.join(dir, name));
  throwsNaming(() => atomicWriteFile(path.join(dir, 'result.json'), '{}\n'), path.join(dir, 'result.json'), 'cannot write');
  const a = run(1);
  try {
    throwsNaming(() => saveWeights(path.join(dir, 'best.safetensors'), a.net), path.join(dir, 'best.safetensors'), 'cannot write');
  } finally {
    a.dispose();
  }
  assert.equal(fs.readdirSync(dir).sort(), ['best.safetensors', 'result.json'], 'only the folders: no .tmp- file');
});

test('removeStaleTemps removes the temporary files a killed writer left, not its own, folders or other files', () => {
  const dir = tmpDir('checkpoint-stale');
  const own = `.log.jsonl.tmp-${process.pid}`;
  for (const n of ['.checkpoint.safetensors.tmp-4242', '.result.json.tmp-7', own, 'notes.tmp-3', '.keep']) fs.writeFileSync(path.join(dir, n), 'x');
  fs.mkdirSync(path.join(dir, '.folder.tmp-9'));
  assert.equal(removeStaleTemps(dir).sort(), ['.checkpoint.safetensors.tmp-4242', '.result.json.tmp-7']);
  assert.equal(fs.readdirSync(dir).sort(), ['.folder.tmp-9', '.keep', own, 'notes.tmp-3'].sort());
  assert.equal(removeStaleTemps(path.join(dir, 'missing')), []);
});

test.run();
