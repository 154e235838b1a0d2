// The epoch schedule driven by scripted validation losses; expected epochs worked out by
// hand from PyTorch's ReduceLROnPlateau rules (documented at each assertion).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PAPER_SCHEDULE } from '../../ts/train/config';
import { EpochSchedule, ReduceLROnPlateau } from '../../ts/train/schedule';

/** The paper's plateau settings (config.ts) for a bare scheduler; an optimiser stand-in holding the lr. */
const PAPER_PLATEAU = { patience: PAPER_SCHEDULE.plateauPatience, factor: PAPER_SCHEDULE.plateauFactor, minLr: PAPER_SCHEDULE.minLr };
const opt = (lr = 1e-3) => ({ lr });

const close = (a: number, b: number, tol = 1e-15) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('plateau: a flat loss reduces the lr at epochs 17, 33, 49 (patience 15, factor 0.65)', () => {
  // epoch 1 sets best (inf → 1); epochs 2.. are bad; bad = 16 > 15 at epoch 17, then reset.
  const s = new ReduceLROnPlateau(opt(), PAPER_PLATEAU);
  const reducedAt: number[] = [];
  for (let e = 1; e <= 50; e++) if (s.step(1.0)) reducedAt.push(e);
  assert.equal(reducedAt, [17, 33, 49]);
  close(s.lr, 1e-3 * 0.65 ** 3);
});

test('plateau: relative threshold 1e-4 — tiny improvements do not count', () => {
  const s = new ReduceLROnPlateau(opt(), PAPER_PLATEAU);
  s.step(1.0);
  // best stays 1.0 until a loss < 0.9999: 1 − 0.00005·(e−1) first gets there at e = 4 (0.99985).
  for (let e = 2; e <= 4; e++) s.step(1.0 - 0.00005 * (e - 1));
  close(s.best, 0.99985);
  assert.equal(s.numBadEpochs, 0);
  const t = new ReduceLROnPlateau(opt(), PAPER_PLATEAU);
  t.step(1.0);
  let reduced = 0;
  for (let e = 2; e <= 17; e++) if (t.step(0.99995)) reduced = e; // 5e-5 relative: never better
  assert.equal(reduced, 17);
});

test('plateau: eps 1e-8 stops reductions before min lr, as PyTorch; min lr clamps; cooldown', () => {
  // 1e-7 → 6.5e-8 → 4.225e-8 → 2.74625e-8; the next step would change it by 9.6e-9 ≤ eps: skipped.
  const s = new ReduceLROnPlateau(opt(1e-7), { ...PAPER_PLATEAU, patience: 0 });
  for (let e = 0; e < 20; e++) s.step(1);
  close(s.lr, 1e-7 * 0.65 ** 3, 1e-12);
  const m = new ReduceLROnPlateau(opt(1e-7), { ...PAPER_PLATEAU, patience: 0, eps: 0 });
  for (let e = 0; e < 20; e++) m.step(1);
  close(m.lr, 1e-8);
  const c = new ReduceLROnPlateau(opt(1), { ...PAPER_PLATEAU, patience: 1, cooldown: 2 });
  const at: number[] = [];
  for (let e = 1; e <= 12; e++) if (c.step(5)) at.push(e);
  // e1 best; bad 1 (e2), 2 > 1 at e3 → reduce, cooldown 2: e4, e5 reset; bad 1 at e6, 2 at e7 → reduce …
  assert.equal(at, [3, 7, 11]);
});

test('warm-up gating: no best model and no early-stop counting in epochs 1..40', () => {
  const s = new EpochSchedule(opt(), PAPER_SCHEDULE);
  for (let e = 1; e <= 40; e++) {
    const r = s.step(e, 1 / e, 1 / e); // improving every epoch
    assert.equal(r.isBest, false);
    assert.equal(r.reason, 'warmup');
    assert.equal(r.stop, false);
  }
  const r41 = s.step(41, 0.5, 0.5); // worse than epoch 40 but the first eligible epoch
  assert.equal(r41.isBest, true);
  assert.equal(r41.bestEpoch, 41);
});

test('early stopping: flat AFC loss stops at epoch 81 (best 41 + patience 40)', () => {
  const s = new EpochSchedule(opt(), PAPER_SCHEDULE);
  let stopAt = 0, bestAt = 0;
  for (let e = 1; e <= 300 && !stopAt; e++) {
    const r = s.step(e, 1.0, 0.7);
    if (r.isBest) bestAt = e;
    if (r.stop) { stopAt = e; assert.equal(r.reason, 'early_stop'); assert.equal(r.epochsWithoutImprovement, 40); }
  }
  assert.equal(bestAt, 41);
  assert.equal(stopAt, 81);
  // plateau on the total loss ran during warm-up too: reductions at 17, 33, 49, 65, 81
  close(s.lr, 1e-3 * 0.65 ** 5);
});

test('scripted run: improvements reset the counter; select loss drives the best, total loss the lr', () => {
  // total loss improves until epoch 60 then flat; AFC loss improves until 70 then rises.
  const total = (e: number) => (e <= 60 ? 2 - e / 100 : 1.4);
  const afc = (e: number) => (e <= 70 ? 1 - e / 200 : 0.65 + (e - 70) / 1000);
  const s = new EpochSchedule(opt(), { ...PAPER_SCHEDULE, earlyStopping: 40 });
  const log: { e: number; best: boolean; lr: number; stop: boolean }[] = [];
  for (let e = 1; e <= 300; e++) {
    const r = s.step(e, total(e), afc(e));
    log.push({ e, best: r.isBest, lr: r.lr, stop: r.stop });
    if (r.stop) break;
  }
  assert.equal(s.bestEpoch, 70);
  assert.equal(log.filter((l) => l.best).map((l) => l.e), Array.from({ length: 30 }, (_, i) => 41 + i));
  assert.equal(log.at(-1)!.e, 110); // 40 epochs after 70
  // first lr drop: last improvement of total loss at 60 (1.4 < 1.41·(1−1e-4)), bad > 15 at 76
  assert.equal(log.findIndex((l) => l.lr < 1e-3) + 1, 76);
});

test('max epochs, configuration, and state round-trip', () => {
  const s = new EpochSchedule(opt(0.1), { ...PAPER_SCHEDULE, warmupEpochs: 2, earlyStopping: 3, maxEpochs: 5 });
  const r = [1, 2, 3, 4, 5].map((e) => s.step(e, 1 / e, 1 / e));
  assert.equal(r.map((x) => x.isBest), [false, false, true, true, true]);
  assert.equal(r[4]!.stop, true);
  assert.equal(r[4]!.reason, 'max_epochs');
  assert.throws(() => s.step(7, 1, 1));
  const a = new EpochSchedule(opt(), { ...PAPER_SCHEDULE, warmupEpochs: 1 });
  for (let e = 1; e <= 30; e++) a.step(e, 1, 1);
  // the lr is the optimiser's: a resume restores it with the optimiser (loadCheckpoint), the counters here
  const b = new EpochSchedule(opt(a.lr), { ...PAPER_SCHEDULE, warmupEpochs: 1 });
  b.load(JSON.parse(JSON.stringify(a.state())) as ReturnType<typeof a.state>);
  assert.equal(b.step(31, 1, 1), a.step(31, 1, 1));
});

test('the schedule drives its optimiser\'s lr, keeps no copy, and ignores the lr of an old state', () => {
  const o = opt();
  const s = new EpochSchedule(o, { ...PAPER_SCHEDULE, plateauPatience: 0 });
  s.step(1, 1, 1);
  const r = s.step(2, 1, 1); // a bad epoch > patience 0: reduced
  assert.ok(r.lrReduced);
  assert.is(o.lr, 1e-3 * PAPER_SCHEDULE.plateauFactor, 'the optimiser holds the reduced lr');
  assert.is(r.lr, o.lr);
  o.lr = 5e-4; // set elsewhere (a user, a loaded optimiser state): the schedule reads it
  assert.is(s.lr, 5e-4);
  assert.not.ok('lr' in s.state().plateau, 'the state has no lr of its own');
  // checkpoints written while the schedule kept a copy stored it in the plateau state
  const old = { ...s.state(), plateau: { ...s.state().plateau, lr: 0.123 } };
  const o2 = opt(5e-4);
  const t = new EpochSchedule(o2, { ...PAPER_SCHEDULE, plateauPatience: 0 });
  t.load(old);
  assert.is(t.lr, 5e-4);
  assert.not.ok(Object.prototype.hasOwnProperty.call(t.plateau, 'lr'));
  assert.equal(t.step(3, 1, 1), s.step(3, 1, 1));
  assert.is(o2.lr, o.lr);
});

test.run();
