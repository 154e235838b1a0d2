/**
 * float64 references for the probability metrics and the bootstrap, written from the
 * definitions and sharing no code with ts/train: ECE with numpy-style bin edges
 * (linspace(0, 1, B+1), a sample in (lo, hi]), Brier score, ACC / weighted F1 / weighted
 * G-mean from per-class counts, numpy.percentile (linear), and the bootstrap loop itself.
 */
import { rng, seedOf } from '../../ts/data/rng';

export function eceRef(probs: number[][], y: number[], bins = 15): number {
  const edges = Array.from({ length: bins + 1 }, (_, i) => i / bins);
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    let n = 0, conf = 0, hit = 0;
    probs.forEach((p, i) => {
      const c = Math.max(...p);
      if (c > edges[b] && c <= edges[b + 1]) {
        n++;
        conf += c;
        if (p.indexOf(c) === y[i]) hit++;
      }
    });
    if (n) ece += (n / probs.length) * Math.abs(hit / n - conf / n);
  }
  return ece;
}

export function brierRef(probs: number[][], y: number[]): number {
  return probs.reduce((s, p, i) => s + p.reduce((t, v, c) => t + (v - (c === y[i] ? 1 : 0)) ** 2, 0), 0) / probs.length;
}

/** ACC, support-weighted F1 (zero_division 0), imblearn weighted G-mean = sqrt(sens_w · spec_w). */
export function paperMetricsRef(yTrue: number[], yPred: number[], C: number): { acc: number; f1: number; gmean: number } {
  const n = yTrue.length;
  let f1 = 0, sens = 0, spec = 0, acc = 0;
  for (let c = 0; c < C; c++) {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    for (let i = 0; i < n; i++) {
      const t = yTrue[i] === c, p = yPred[i] === c;
      if (t && p) tp++; else if (p) fp++; else if (t) fn++; else tn++;
    }
    const support = tp + fn;
    const prec = tp + fp ? tp / (tp + fp) : 0, rec = support ? tp / support : 0;
    f1 += (prec + rec ? (2 * prec * rec) / (prec + rec) : 0) * support / n;
    sens += rec * support / n;
    spec += (tn + fp ? tn / (tn + fp) : 0) * support / n;
    acc += tp / n;
  }
  return { acc, f1, gmean: Math.sqrt(sens * spec) };
}

export function percentileRef(v: number[], q: number): number {
  const s = [...v].sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const k = Math.floor(pos);
  return k + 1 < s.length ? s[k] + (pos - k) * (s[k + 1] - s[k]) : s[k];
}

/** The documented resampling order: one stream, replicate by replicate, fold by fold. */
export function bootstrapRef(folds: { yTrue: number[]; yPred: number[]; C: number }[], B: number, seed: number, level = 0.95) {
  const r = rng(seedOf(seed, 'bootstrap'));
  const reps: Record<'acc' | 'f1' | 'gmean', number[]> = { acc: [], f1: [], gmean: [] };
  for (let b = 0; b < B; b++) {
    const ms = folds.map((f) => {
      const idx = f.yTrue.map(() => r.int(0, f.yTrue.length - 1));
      return paperMetricsRef(idx.map((i) => f.yTrue[i]), idx.map((i) => f.yPred[i]), f.C);
    });
    for (const m of ['acc', 'f1', 'gmean'] as const) reps[m].push(ms.reduce((a, x) => a + x[m], 0) / ms.length);
  }
  const a = (1 - level) / 2;
  const point = folds.map((f) => paperMetricsRef(f.yTrue, f.yPred, f.C));
  return Object.fromEntries((['acc', 'f1', 'gmean'] as const).map((m) => [m, {
    estimate: point.reduce((s, x) => s + x[m], 0) / point.length, lo: percentileRef(reps[m], 100 * a), hi: percentileRef(reps[m], 100 * (1 - a)),
  }])) as Record<'acc' | 'f1' | 'gmean', { estimate: number; lo: number; hi: number }>;
}
