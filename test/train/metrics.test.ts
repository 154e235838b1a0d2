// Metrics against hand-computed confusion matrices and imbalanced-learn's docstring
// examples. Tolerance 1e-12 (all cases are small rationals or their square roots).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  accuracy, addConfusion, classScores, confusionMatrix, evaluate, meanStd, summarizeFolds, weightedF1, weightedGMean,
} from '../../ts/train/metrics';

const close = (a: number, b: number, tol = 1e-12, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b}`);

test('confusion matrix: rows are true classes, columns predictions', () => {
  assert.equal(confusionMatrix([0, 1, 1, 2], [0, 0, 1, 2]), [[1, 0, 0], [1, 1, 0], [0, 0, 1]]);
  assert.equal(confusionMatrix([0, 0], [0, 0], 3), [[2, 0, 0], [0, 0, 0], [0, 0, 0]]);
  assert.throws(() => confusionMatrix([0, 1], [0]));
  assert.throws(() => confusionMatrix([0, 2], [0, 1], 2));
  assert.equal(addConfusion([[1, 0], [0, 1]], [[0, 2], [1, 0]]), [[1, 2], [1, 1]]);
});

test('binary case by hand: TN=3 FP=1 FN=2 TP=4', () => {
  const cm = [[3, 1], [2, 4]];
  close(accuracy(cm), 0.7);
  // class 0: P = 3/5, R = 3/4, F1 = 2/3; class 1: P = 4/5, R = 4/6, F1 = 8/11; supports 4, 6
  close(weightedF1(cm), (4 * (2 / 3) + 6 * (8 / 11)) / 10);
  // sens_w = (4·3/4 + 6·4/6)/10 = 0.7 (= ACC); spec_0 = R_1 = 2/3, spec_1 = R_0 = 3/4
  // spec_w = (4·2/3 + 6·3/4)/10 = 0.71666…; GM = sqrt(0.7 · 0.716666…)
  close(weightedGMean(cm), Math.sqrt(0.7 * ((4 * (2 / 3) + 6 * 0.75) / 10)));
});

test('a class never predicted: precision 0 (zero_division=0), F1 0', () => {
  // true [0,0,1,1,1,2], pred [0,0,0,1,1,0]: class 2 is never predicted.
  const cm = confusionMatrix([0, 0, 1, 1, 1, 2], [0, 0, 0, 1, 1, 0]);
  const s = classScores(cm);
  assert.equal(s[2]!.precision, 0);
  assert.equal(s[2]!.f1, 0);
  close(accuracy(cm), 4 / 6);
  // class 0: P 2/4, R 1 → F1 2/3; class 1: P 1, R 2/3 → F1 4/5; class 2: 0. supports 2,3,1
  close(weightedF1(cm), (2 * (2 / 3) + 3 * 0.8) / 6);
  // spec: c0 = 2/4, c1 = 3/3, c2 = 5/5; spec_w = (2·0.5 + 3·1 + 1·1)/6 = 5/6; sens_w = ACC
  close(weightedGMean(cm), Math.sqrt((4 / 6) * (5 / 6)));
});

test('G-mean equals imbalanced-learn docstring examples', () => {
  // geometric_mean_score([0,1,2,0,1,2], [0,2,1,0,0,1], average='weighted') == 0.47140452079103168
  close(weightedGMean(confusionMatrix([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1])), 0.47140452079103168, 1e-15);
  // specificity_score(..., average=None) == [0.75, 0.5, 0.75]
  assert.equal(classScores(confusionMatrix([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1])).map((c) => c.specificity), [0.75, 0.5, 0.75]);
  // classification_report_imbalanced([0,1,2,2,2], [0,0,2,2,1]): spe 0.75 0.75 1.00, rec 1.00 0.00 0.67
  const s = classScores(confusionMatrix([0, 1, 2, 2, 2], [0, 0, 2, 2, 1]));
  assert.equal(s.map((c) => c.specificity), [0.75, 0.75, 1]);
  close(s[2]!.recall, 2 / 3);
});

test('degenerate cases: one class only, empty', () => {
  // every sample is class 0 and predicted 0: sens_w = 1, spec_0 = 0/0 → 0, so GM = 0 (imblearn)
  close(weightedGMean([[5, 0], [0, 0]]), 0);
  close(weightedF1([[5, 0], [0, 0]]), 1);
  assert.equal(weightedGMean([[0, 0], [0, 0]]), 0);
  assert.equal(accuracy([[0, 0], [0, 0]]), 0);
  const e = evaluate([1, 1, 0], [1, 0, 0], 2);
  assert.equal(e.cm, [[1, 0], [1, 1]]);
  close(e.acc, 2 / 3);
});

test('mean/std across folds: ddof 0 by default (the authors\' pandas std with the mean row), ddof 1 optional', () => {
  const m = meanStd([0.6, 0.7, 0.8, 0.9]);
  close(m.mean, 0.75);
  close(m.std, Math.sqrt(0.0125)); // Σ(d²) = 0.05, /4
  close(meanStd([0.6, 0.7, 0.8, 0.9], { ddof: 1 }).std, Math.sqrt(0.05 / 3));
  // pandas std (ddof=1) over [folds..., mean] equals ddof=0 over the folds
  const withMean = [0.6, 0.7, 0.8, 0.9, 0.75];
  close(meanStd(withMean, { ddof: 1 }).std, m.std);
  const s = summarizeFolds([{ acc: 0.5, f1: 0.4, gmean: 0.45 }, { acc: 0.7, f1: 0.6, gmean: 0.65 }]);
  close(s.acc!.mean, 0.6); close(s.f1!.std, 0.1); close(s.gmean!.mean, 0.55);
});

test('identical folds have σ exactly 0 and μ their value (the rounded mean gave σ ~1e-16)', () => {
  for (const v of [0.7, 0.65, 0.1 + 0.2]) {
    for (const n of [2, 3, 5, 7]) assert.equal(meanStd(new Array<number>(n).fill(v)), { mean: v, std: 0, n });
    assert.equal(meanStd([v, v, v], { ddof: 1 }).std, 0);
    assert.ok(Number.isNaN(meanStd([v, v], { ddof: 2 }).std), 'no more folds than ddof: undefined');
  }
  assert.ok(Number.isNaN(meanStd([NaN, NaN]).mean));
});

test.run();
