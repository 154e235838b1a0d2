// Calibration and uncertainty, checked against the float64 references of test/ref/calibration.ts:
// ECE (15 bins, samples on the bin edges included) and Brier score; temperature scaling lowers
// the validation NLL of an over-confident model, finds its temperature, is a minimum of the NLL,
// and leaves a calibrated model (labels drawn from its own softmax) at T ≈ 1; the bootstrap
// intervals per test set and across folds equal the reference loop's, and their width matches
// the binomial standard error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { calibrateTask, chooseTemperature, fitTemperature, nllT, softmaxT, TEMPERATURE_CHECK } from '../../ts/predict/calibration';
import { foldIntervals, metricIntervals } from '../../ts/train/bootstrap';
import { brierScore, expectedCalibrationError, reliabilityBins } from '../../ts/train/metrics';
import { Rng } from '../helpers';
import { bootstrapRef, brierRef, eceRef } from '../ref/calibration';

const close = (a: number, b: number, tol: number, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg}: ${a} vs ${b} (tol ${tol})`);

/** Logits of a model and labels drawn from softmax(z / trueT): the model is calibrated at T = trueT. */
function draw(n: number, C: number, seed: number, trueT: number, scale = 2): { logits: number[][]; y: number[] } {
  const r = new Rng(seed);
  const logits: number[][] = [], y: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: C }, () => scale * r.normal());
    const p = softmaxT(z, trueT);
    let u = r.next(), c = 0;
    while (c < C - 1 && (u -= p[c]) > 0) c++;
    logits.push(z);
    y.push(c);
  }
  return { logits, y };
}

test('ECE and Brier score equal the float64 references (random rows and rows on bin edges)', () => {
  const r = new Rng(7);
  for (const C of [2, 4]) {
    const probs: number[][] = [], y: number[] = [];
    for (let i = 0; i < 500; i++) {
      const z = Array.from({ length: C }, () => 3 * r.normal());
      probs.push(softmaxT(z));
      y.push(r.int(0, C - 1));
    }
    // confidences exactly on edges k/15 (two classes: [1 − c, c])
    for (const k of [8, 9, 10, 12, 15]) {
      const c = k / 15;
      probs.push(C === 2 ? [1 - c, c] : [c, (1 - c) / 3, (1 - c) / 3, (1 - c) / 3]);
      y.push(r.int(0, C - 1));
    }
    close(expectedCalibrationError(probs, y), eceRef(probs, y), 1e-12, `ECE C=${C}`);
    close(brierScore(probs, y), brierRef(probs, y), 1e-12, `Brier C=${C}`);
    const bins = reliabilityBins(probs, y);
    assert.is(bins.length, 15);
    assert.is(bins.reduce((a, b) => a + b.n, 0), probs.length, 'every sample in one bin');
  }
  close(expectedCalibrationError([[0.2, 0.8], [0.2, 0.8]], [1, 0]), 0.3, 1e-15, 'hand example');
  close(brierScore([[0.2, 0.8]], [1]), 0.08, 1e-15, 'hand example');
});

test('temperature scaling: an over-confident model gets T ≈ 3 and a lower validation NLL; the fit is the NLL minimum', () => {
  const { logits, y } = draw(4000, 4, 11, 3); // labels follow softmax(z / 3): the raw logits are 3× too sharp
  const fit = fitTemperature(logits, y);
  assert.ok(fit.nllAfter < fit.nllBefore - 0.05, `NLL ${fit.nllBefore} → ${fit.nllAfter}`);
  close(fit.temperature, 3, 0.25, 'recovers the true temperature');
  // an independent check of optimality: a fine grid around the fit never does better
  for (const f of [0.9, 0.97, 0.995, 1.005, 1.03, 1.1]) assert.ok(nllT(logits, y, fit.temperature * f) >= fit.nllAfter - 1e-12, `T·${f} is not better`);
  const cal = calibrateTask({ logits, yTrue: y });
  assert.ok(cal.val.after.ece < cal.val.before.ece, `ECE ${cal.val.before.ece} → ${cal.val.after.ece}`);
  // the argmax, hence every paper metric, is unchanged
  const arg = (p: number[]) => p.indexOf(Math.max(...p));
  assert.ok(logits.every((z) => arg(softmaxT(z, 1)) === arg(softmaxT(z, fit.temperature))));
  // an under-confident model (too flat) is sharpened
  const flat = draw(4000, 2, 12, 0.5);
  const f2 = fitTemperature(flat.logits, flat.y);
  close(f2.temperature, 0.5, 0.06, 'under-confident: T < 1');
  assert.ok(f2.nllAfter < f2.nllBefore);
});

test('temperature scaling leaves a calibrated model unchanged (T ≈ 1, NLL and ECE barely move)', () => {
  for (const [C, seed] of [[2, 21], [4, 22]] as const) {
    const { logits, y } = draw(20000, C, seed, 1);
    const cal = calibrateTask({ logits, yTrue: y });
    close(cal.temperature, 1, 0.04, `C=${C}: T`);
    assert.ok(cal.val.before.nll - cal.val.after.nll < 1e-3, `C=${C}: NLL gain ${cal.val.before.nll - cal.val.after.nll}`);
    assert.ok(cal.val.before.ece < 0.02 && cal.val.after.ece < 0.02, `C=${C}: ECE ${cal.val.before.ece} → ${cal.val.after.ece}`);
  }
  assert.equal(fitTemperature([], []).temperature, 1, 'no samples: T = 1');
});

test('a fitted T is applied only when it beats T = 1 on held-out folds of the validation split', () => {
  // the new-user trial: STL τ2 after 2 epochs on 16 validation images, logits all but constant
  // (these are its values); the fit sharpened them to T ≈ 0.12 and the test ECE rose 9 % → 26.5 %
  const r = new Rng(4);
  const z0 = [-0.0226, -0.1848, -0.0514, -0.2609];
  const rows = (labels: string) => [...labels].map(() => z0.map((v) => v + 2e-4 * r.normal()));
  const valY = [...'2320020100200122'].map(Number), testY = [...'1221320111002212'].map(Number);
  const val = rows('2320020100200122'), held = rows('1221320111002212');
  const qa = chooseTemperature(val, valY);
  assert.ok(qa.fitted < 0.2, `the fit alone sharpens: T = ${qa.fitted}`);
  assert.is(qa.temperature, 1, 'kept at 1');
  assert.is(qa.check.decision, 'no held-out gain');
  assert.ok(qa.check.gain! <= qa.check.se!, `gain ${qa.check.gain} within one SE ${qa.check.se}`);
  assert.ok(nllT(held, testY, 1) < nllT(held, testY, qa.fitted), 'on the test labels T = 1 is the better choice');
  // a clearly over-confident model on a real validation split: applied, and the check says why
  const { logits, y } = draw(2000, 4, 13, 3);
  const big = chooseTemperature(logits, y);
  assert.is(big.check.decision, 'applied');
  assert.is(big.temperature, big.fitted);
  assert.ok(big.check.gain! > big.check.se! && big.check.n === 2000 && big.check.folds === TEMPERATURE_CHECK.folds);
  // too few samples to cross-validate: T = 1 whatever the fit
  const few = draw(TEMPERATURE_CHECK.minSamples - 1, 2, 14, 3);
  const small = chooseTemperature(few.logits, few.y);
  assert.is(small.temperature, 1);
  assert.is(small.check.decision, 'too few samples');
  assert.is(small.check.gain, undefined);
  // calibrateTask reports the statistics at the T applied, and both temperatures
  const cal = calibrateTask({ logits: val, yTrue: valY }, { logits: held, yTrue: testY });
  assert.is(cal.temperature, 1);
  assert.is(cal.fitted, qa.fitted);
  close(cal.test!.after.ece, cal.test!.before.ece, 0, 'T = 1 leaves the test ECE as it was');
});

test('bootstrap intervals equal the reference loop, per test set and across folds', () => {
  const r = new Rng(5);
  const mk = (n: number, C: number) => {
    const yTrue = Array.from({ length: n }, () => r.int(0, C - 1));
    return { yTrue, yPred: yTrue.map((t) => (r.next() < 0.7 ? t : r.int(0, C - 1))), C };
  };
  const one = mk(120, 2);
  const got = metricIntervals(one.yTrue, one.yPred, 2, { resamples: 1000, seed: 3 });
  const ref = bootstrapRef([one], 1000, 3);
  for (const m of ['acc', 'f1', 'gmean'] as const) {
    close(got[m].estimate, ref[m].estimate, 1e-12, `${m} estimate`);
    close(got[m].lo, ref[m].lo, 1e-12, `${m} lo`);
    close(got[m].hi, ref[m].hi, 1e-12, `${m} hi`);
    assert.ok(got[m].lo <= got[m].estimate && got[m].estimate <= got[m].hi, `${m}: estimate inside`);
  }
  const folds = [mk(40, 4), mk(37, 4), mk(45, 4)];
  const gf = foldIntervals(folds.map((f) => ({ yTrue: f.yTrue, yPred: f.yPred, nClasses: 4 })), { resamples: 300, seed: 9, level: 0.9 });
  const rf = bootstrapRef(folds, 300, 9, 0.9);
  for (const m of ['acc', 'f1', 'gmean'] as const) {
    close(gf[m].lo, rf[m].lo, 1e-12, `folds ${m} lo`);
    close(gf[m].hi, rf[m].hi, 1e-12, `folds ${m} hi`);
    close(gf[m].estimate, rf[m].estimate, 1e-12, `folds ${m} estimate`);
  }
  // the 95 % interval of an accuracy p on n samples is about p ± 1.96·sqrt(p(1−p)/n)
  const n = 400, yTrue = Array.from({ length: n }, (_, i) => i % 2), yPred = yTrue.map((t, i) => (i % 10 < 7 ? t : 1 - t));
  const acc = metricIntervals(yTrue, yPred, 2, { seed: 1 }).acc;
  const want = 2 * 1.96 * Math.sqrt(0.7 * 0.3 / n);
  close(acc.hi - acc.lo, want, 0.15 * want, 'width matches the binomial standard error');
  assert.throws(() => metricIntervals([0], [0], 2, { resamples: 0 }), /resamples/);
  assert.throws(() => foldIntervals([{ yTrue: [], yPred: [], nClasses: 2 }]), /no samples/);
});

test.run();
