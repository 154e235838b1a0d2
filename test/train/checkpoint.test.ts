// The checkpoint keeps the learning rate once, with the optimiser (the schedule only drives
// it), and a checkpoint of the earlier format, which also kept a copy in the schedule state,
// still resumes to the same lr and the same next schedule step.
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadSafetensors, saveSafetensors } from '../../ts/io/safetensors';
import { Linear } from '../../ts/nn/layers';
import { Adam } from '../../ts/optim/adam';
import { manualSeed } from '../../ts/random';
import { decodeJson, encodeJson, loadCheckpoint, type RunState, saveCheckpoint } from '../../ts/train/checkpoint';
import { PAPER_OPTIM, PAPER_SCHEDULE } from '../../ts/train/config';
import { EpochSchedule } from '../../ts/train/schedule';
import { deviceAvailable } from '../helpers';
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

test.run();
