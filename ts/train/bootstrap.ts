/**
 * Percentile bootstrap confidence intervals for the paper's metrics (Efron & Tibshirani 1993,
 * §13.3): resample the test set with replacement, recompute ACC / weighted F1 / weighted
 * G-mean on each resample, and take the (1−level)/2 and (1+level)/2 percentiles (numpy's
 * linear interpolation) of the replicates.
 *
 * Reproducible: resample b draws its n indices from `rng(seedOf(seed, 'bootstrap'))` in
 * order (b = 0..B−1, then i = 0..n−1, `int(0, n−1)`), one stream for the whole call. Across
 * folds each replicate resamples every fold's test set in fold order (a stratified
 * bootstrap: folds are fixed, samples within them vary) and averages the per-fold metric, the
 * paper's μ; the interval is then for μ under test-set sampling.
 *
 *   const ci = metricIntervals(yTrue, yPred, 2, { resamples: 1000, seed: 0 });  ci.acc.lo
 */
import { percentiles } from '../data/preprocess';
import { rng, seedOf } from '../data/rng';
import { confusionMatrix, metricsFromConfusion } from './metrics';

export const CI_METRICS = ['acc', 'f1', 'gmean'] as const;
export type CiMetric = (typeof CI_METRICS)[number];

/** A point estimate with its percentile-bootstrap interval. */
export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
  /** coverage, e.g. 0.95 */
  level: number;
  resamples: number;
}

export interface BootstrapOptions {
  /** replicates (default 1000) */
  resamples?: number;
  /** seed of the resampling stream (default 0) */
  seed?: number;
  /** coverage (default 0.95) */
  level?: number;
}

/** One test set's labels: true and predicted classes, 0..nClasses−1. */
export interface LabelSet {
  yTrue: ArrayLike<number>;
  yPred: ArrayLike<number>;
  nClasses: number;
}

function opts(o: BootstrapOptions): Required<BootstrapOptions> {
  const r = { resamples: o.resamples ?? 1000, seed: o.seed ?? 0, level: o.level ?? 0.95 };
  if (!Number.isInteger(r.resamples) || r.resamples < 1) throw new Error(`bootstrap: resamples must be a positive integer, got ${r.resamples}`);
  if (!(r.level > 0 && r.level < 1)) throw new Error(`bootstrap: level must be in (0, 1), got ${r.level}`);
  return r;
}

function interval(estimate: number, reps: number[], o: Required<BootstrapOptions>): Interval {
  const a = (1 - o.level) / 2;
  const [lo, hi] = percentiles(reps, [100 * a, 100 * (1 - a)]);
  return { estimate, lo, hi, level: o.level, resamples: o.resamples };
}

function metricsOf(s: LabelSet, idx?: Int32Array): Record<CiMetric, number> {
  const cm = Array.from({ length: s.nClasses }, () => new Array<number>(s.nClasses).fill(0));
  const n = idx ? idx.length : s.yTrue.length;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k]! : k;
    cm[s.yTrue[i]!]![s.yPred[i]!]!++;
  }
  return metricsFromConfusion(cm) as Record<CiMetric, number>;
}

/**
 * Intervals for the mean over folds of ACC, F1 and G-mean (one fold: the run's own interval).
 * Every fold needs at least one sample.
 *
 * @example foldIntervals([fold0, fold1, fold2], { seed: 0 }).f1 // { estimate, lo, hi, ... }
 */
export function foldIntervals(folds: readonly LabelSet[], o: BootstrapOptions = {}): Record<CiMetric, Interval> {
  const p = opts(o);
  if (!folds.length) throw new Error('bootstrap: no folds');
  for (const [f, s] of folds.entries()) {
    if (s.yTrue.length !== s.yPred.length) throw new Error(`bootstrap: fold ${f} has ${s.yTrue.length} true and ${s.yPred.length} predicted labels`);
    if (s.yTrue.length === 0) throw new Error(`bootstrap: fold ${f} has no samples`);
    confusionMatrix(s.yTrue, s.yPred, s.nClasses); // label range check
  }
  const mean = (ms: Record<CiMetric, number>[], m: CiMetric) => ms.reduce((a, x) => a + x[m], 0) / ms.length;
  const point = folds.map((s) => metricsOf(s));
  const reps: Record<CiMetric, number[]> = { acc: [], f1: [], gmean: [] };
  const r = rng(seedOf(p.seed, 'bootstrap'));
  const idx = folds.map((s) => new Int32Array(s.yTrue.length));
  for (let b = 0; b < p.resamples; b++) {
    const ms = folds.map((s, f) => {
      const ix = idx[f]!;
      for (let i = 0; i < ix.length; i++) ix[i] = r.int(0, ix.length - 1);
      return metricsOf(s, ix);
    });
    for (const m of CI_METRICS) reps[m].push(mean(ms, m));
  }
  return Object.fromEntries(CI_METRICS.map((m) => [m, interval(mean(point, m), reps[m], p)])) as Record<CiMetric, Interval>;
}

/**
 * Intervals for ACC, F1 and G-mean of one test set.
 *
 * @example metricIntervals([0, 1, 1, 0], [0, 1, 0, 0], 2).acc.estimate // 0.75
 */
export function metricIntervals(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number, o: BootstrapOptions = {}): Record<CiMetric, Interval> {
  return foldIntervals([{ yTrue, yPred, nClasses }], o);
}
