/**
 * Classification metrics of the paper (§4): accuracy, weighted F1 as scikit-learn's
 * `classification_report(...)['weighted avg']['f1-score']`, weighted G-mean as
 * imbalanced-learn's `geometric_mean_score(average='weighted')`, and fold summaries.
 *
 * Everything works on a confusion matrix `cm[t][p]` (rows = true class, columns =
 * predicted class), so pooled metrics over several folds are just metrics of the
 * summed matrices (identical to concatenating the predictions).
 *
 * imbalanced-learn's weighted G-mean is NOT the support-weighted mean of per-class
 * sqrt(sens_c·spec_c). `geometric_mean_score` with `average != 'multiclass'` calls
 * `sensitivity_specificity_support(average='weighted')`, which averages sensitivity and
 * specificity *separately* with support weights, and returns sqrt(sens_w · spec_w)
 * (imblearn/metrics/_classification.py). Because the support-weighted recall is the
 * accuracy, GM_w = sqrt(ACC · spec_w). Zero denominators give 0 (sklearn `_prf_divide`):
 * a class with no true samples has recall 0 but weight 0; a class that holds every sample
 * has specificity 0/0 → 0. With no samples at all the score is 0.
 */

/** Confusion matrix, `cm[trueClass][predictedClass]` = count. */
export type ConfusionMatrix = number[][];

/** Metrics of one fold (fractions in [0, 1], not percentages). */
export interface FoldMetrics {
  acc: number;
  f1: number;
  gmean: number;
  [extra: string]: number;
}

/** The three paper metrics with the confusion matrix they came from. */
export interface Evaluation {
  acc: number;
  f1: number;
  gmean: number;
  cm: ConfusionMatrix;
}

/** Per-class scores as sklearn's classification_report rows. */
export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  specificity: number;
  support: number;
}

/** Mean and standard deviation of a set of values. */
export interface MeanStd {
  mean: number;
  std: number;
  n: number;
}

const div0 = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/**
 * Builds the confusion matrix of integer labels `0..nClasses-1`.
 * `nClasses` defaults to 1 + the largest label seen. Throws on a length mismatch or a
 * label outside the range.
 *
 * @example confusionMatrix([0, 1, 1], [0, 0, 1]) // [[1, 0], [1, 1]]
 */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses?: number): ConfusionMatrix {
  if (yTrue.length !== yPred.length) throw new Error(`confusionMatrix: yTrue has ${yTrue.length} labels, yPred ${yPred.length}`);
  let k = nClasses ?? 0;
  if (nClasses === undefined) for (let i = 0; i < yTrue.length; i++) k = Math.max(k, yTrue[i]! + 1, yPred[i]! + 1);
  const cm = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]!, p = yPred[i]!;
    if (!Number.isInteger(t) || !Number.isInteger(p) || t < 0 || p < 0 || t >= k || p >= k) {
      throw new Error(`confusionMatrix: label pair (${t}, ${p}) at ${i} is outside 0..${k - 1}`);
    }
    cm[t]![p]!++;
  }
  return cm;
}

/**
 * Element-wise sum of confusion matrices of equal size (pooling folds).
 *
 * @example addConfusion([[1, 0], [0, 1]], [[0, 1], [1, 0]]) // [[1, 1], [1, 1]]
 */
export function addConfusion(...cms: ConfusionMatrix[]): ConfusionMatrix {
  if (cms.length === 0) return [];
  const k = cms[0]!.length;
  const out = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (const cm of cms) {
    if (cm.length !== k) throw new Error(`addConfusion: sizes ${k} and ${cm.length} differ`);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[i]![j]! += cm[i]![j]!;
  }
  return out;
}

function totals(cm: ConfusionMatrix): { n: number; tp: number[]; trueSum: number[]; predSum: number[] } {
  const k = cm.length;
  const tp = new Array<number>(k).fill(0), trueSum = new Array<number>(k).fill(0), predSum = new Array<number>(k).fill(0);
  let n = 0;
  for (let i = 0; i < k; i++) {
    if (cm[i]!.length !== k) throw new Error(`confusion matrix must be square, row ${i} has ${cm[i]!.length} of ${k}`);
    for (let j = 0; j < k; j++) {
      const c = cm[i]![j]!;
      n += c; trueSum[i]! += c; predSum[j]! += c;
      if (i === j) tp[i] = c;
    }
  }
  return { n, tp, trueSum, predSum };
}

/**
 * Accuracy = trace / total (0 for an empty matrix).
 *
 * @example accuracy([[3, 1], [0, 4]]) // 0.875
 */
export function accuracy(cm: ConfusionMatrix): number {
  const { n, tp } = totals(cm);
  return div0(tp.reduce((a, b) => a + b, 0), n);
}

/**
 * Per-class precision, recall, F1 (sklearn, zero_division=0), specificity
 * (imblearn: tn / (tn + fp), 0 when undefined) and support.
 *
 * @example classScores([[2, 0], [1, 1]])[1].recall // 0.5
 */
export function classScores(cm: ConfusionMatrix): ClassScores[] {
  const { n, tp, trueSum, predSum } = totals(cm);
  return cm.map((_, c) => {
    const precision = div0(tp[c]!, predSum[c]!);
    const recall = div0(tp[c]!, trueSum[c]!);
    const tn = n - trueSum[c]! - predSum[c]! + tp[c]!;
    return {
      precision, recall,
      f1: div0(2 * precision * recall, precision + recall),
      specificity: div0(tn, n - trueSum[c]!),
      support: trueSum[c]!,
    };
  });
}

function weighted(values: number[], weights: number[]): number {
  const w = weights.reduce((a, b) => a + b, 0);
  return div0(values.reduce((s, v, i) => s + v * weights[i]!, 0), w);
}

/**
 * Support-weighted F1: sklearn `classification_report(...)['weighted avg']['f1-score']`
 * with zero_division=0 (a class never predicted has precision 0 and F1 0).
 *
 * @example weightedF1([[2, 0], [2, 0]]) // 1/3: class 0 has F1 2/3, class 1 F1 0
 */
export function weightedF1(cm: ConfusionMatrix): number {
  const s = classScores(cm);
  return weighted(s.map((c) => c.f1), s.map((c) => c.support));
}

/**
 * Weighted G-mean exactly as `imblearn.metrics.geometric_mean_score(average='weighted')`:
 * sqrt(weighted sensitivity · weighted specificity), weights = class supports.
 *
 * @example weightedGMean(confusionMatrix([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1])) // 0.4714045 (imblearn docstring)
 */
export function weightedGMean(cm: ConfusionMatrix): number {
  const s = classScores(cm);
  const w = s.map((c) => c.support);
  if (w.reduce((a, b) => a + b, 0) === 0) return 0;
  return Math.sqrt(weighted(s.map((c) => c.recall), w) * weighted(s.map((c) => c.specificity), w));
}

/**
 * ACC, weighted F1 and weighted G-mean of one confusion matrix.
 *
 * @example metricsFromConfusion([[3, 1], [0, 4]]).acc // 0.875
 */
export function metricsFromConfusion(cm: ConfusionMatrix): FoldMetrics {
  return { acc: accuracy(cm), f1: weightedF1(cm), gmean: weightedGMean(cm) };
}

/**
 * Confusion matrix plus ACC / F1 / G-mean from label vectors.
 *
 * @example evaluate([0, 1, 1, 0], [0, 1, 0, 0], 2).acc // 0.75
 */
export function evaluate(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses?: number): Evaluation {
  const cm = confusionMatrix(yTrue, yPred, nClasses);
  return { acc: accuracy(cm), f1: weightedF1(cm), gmean: weightedGMean(cm), cm };
}

/**
 * Mean and standard deviation with `ddof` degrees of freedom removed (default 0).
 *
 * Why 0 by default: the authors' `compute_statistical_scores.py` adds the `mean` row to
 * the per-fold table *before* calling pandas `.std()` (ddof=1) on it. With the mean as an
 * extra observation the sum of squares is unchanged and n grows by one, so their reported
 * σ equals the population std (ddof=0) of the folds. Pass `{ ddof: 1 }` for the sample std.
 *
 * @example meanStd([1, 2, 3, 4]) // { mean: 2.5, std: 1.118..., n: 4 }
 */
export function meanStd(values: readonly number[], opts: { ddof?: number } = {}): MeanStd {
  const ddof = opts.ddof ?? 0;
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  // identical folds have σ 0 exactly: the rounded mean (0.7 · 3 / 3 = 0.7000000000000001) gave
  // σ ~1e-16, which Table 2 paired as a difference (σ 'MDMT not smaller', t = −∞) instead of none
  if (values.every((v) => v === values[0])) return { mean: values[0]!, std: n - ddof > 0 ? 0 : NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((s, v) => s + (v - mean) * (v - mean), 0);
  return { mean, std: n - ddof > 0 ? Math.sqrt(ss / (n - ddof)) : NaN, n };
}

/**
 * Per-metric mean/std across folds; keys are the metrics present in every fold.
 *
 * @example summarizeFolds([{acc: .6, f1: .5, gmean: .55}, {acc: .8, f1: .7, gmean: .75}]).acc.mean // 0.7
 */
export function summarizeFolds(folds: readonly FoldMetrics[], opts: { ddof?: number } = {}): Record<string, MeanStd> {
  if (folds.length === 0) return {};
  const keys = Object.keys(folds[0]!).filter((k) => folds.every((f) => typeof f[k] === 'number'));
  const out: Record<string, MeanStd> = {};
  for (const k of keys) out[k] = meanStd(folds.map((f) => f[k]!), opts);
  return out;
}

/**
 * One bin of a reliability diagram: the samples whose top-label confidence lies in (lo, hi],
 * their count, mean confidence and accuracy (NaN for an empty bin).
 */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  n: number;
  conf: number;
  acc: number;
}

function topLabel(p: ArrayLike<number>): [number, number] {
  let b = 0;
  for (let j = 1; j < p.length; j++) if (p[j]! > p[b]!) b = j;
  return [b, p[b]!];
}

/**
 * Reliability bins of Guo et al. (ICML 2017): `bins` equal-width intervals (i/bins, (i+1)/bins]
 * of the top-label confidence max_c p_c, each with its accuracy (top label = true label).
 *
 * @example reliabilityBins([[0.2, 0.8], [0.9, 0.1]], [1, 1], 15)[11].n // 1: confidence 0.8
 */
export function reliabilityBins(probs: readonly ArrayLike<number>[], yTrue: ArrayLike<number>, bins = 15): ReliabilityBin[] {
  if (probs.length !== yTrue.length) throw new Error(`reliabilityBins: ${probs.length} probability rows, ${yTrue.length} labels`);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`reliabilityBins: bins must be a positive integer, got ${bins}`);
  const n = new Array<number>(bins).fill(0), conf = new Array<number>(bins).fill(0), hit = new Array<number>(bins).fill(0);
  for (let i = 0; i < probs.length; i++) {
    const [c, p] = topLabel(probs[i]!);
    // (lo, hi] with lo = b/bins: the ceiling, corrected where c·bins rounds across an edge
    let b = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1));
    while (b > 0 && p <= b / bins) b--;
    while (b < bins - 1 && p > (b + 1) / bins) b++;
    n[b]!++;
    conf[b]! += p;
    if (c === yTrue[i]) hit[b]!++;
  }
  return n.map((k, b) => ({ lo: b / bins, hi: (b + 1) / bins, n: k, conf: k ? conf[b]! / k : NaN, acc: k ? hit[b]! / k : NaN }));
}

/**
 * Expected calibration error (Guo et al. 2017): Σ_b |B_b|/n · |acc(B_b) − conf(B_b)| over
 * `bins` equal-width bins of the top-label confidence (15 by default). 0 with no samples.
 *
 * @example expectedCalibrationError([[0.2, 0.8], [0.2, 0.8]], [1, 0]) // |0.5 − 0.8| = 0.3
 */
export function expectedCalibrationError(probs: readonly ArrayLike<number>[], yTrue: ArrayLike<number>, bins = 15): number {
  const n = probs.length;
  if (n === 0) return 0;
  return reliabilityBins(probs, yTrue, bins).reduce((s, b) => (b.n ? s + (b.n / n) * Math.abs(b.acc - b.conf) : s), 0);
}

/**
 * Brier score (Brier 1950): mean over samples of Σ_c (p_c − 1[c = y])². For two classes it is
 * twice scikit-learn's `brier_score_loss`, which scores the positive class only. NaN with no samples.
 *
 * @example brierScore([[0.2, 0.8]], [1]) // 0.04 + 0.04 = 0.08
 */
export function brierScore(probs: readonly ArrayLike<number>[], yTrue: ArrayLike<number>): number {
  if (probs.length !== yTrue.length) throw new Error(`brierScore: ${probs.length} probability rows, ${yTrue.length} labels`);
  let s = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    for (let c = 0; c < p.length; c++) s += (p[c]! - (c === yTrue[i] ? 1 : 0)) ** 2;
  }
  return probs.length ? s / probs.length : NaN;
}
