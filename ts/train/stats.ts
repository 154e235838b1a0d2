/**
 * Statistics of the paper's Table 2, written out from the maths (no dependency):
 * Student-t and normal distributions (regularised incomplete beta / gamma, ~1e-14),
 * paired t-test as `scipy.stats.ttest_rel(a, b, alternative=...)`, Wilcoxon signed-rank
 * as `scipy.stats.wilcoxon(x, y, alternative=...)` with scipy's defaults
 * (zero_method='wilcox', correction=False, method='auto'), the paper's stars, and the
 * paper's comparison set (MDMT vs STL τ1 and vs FT, on μ and σ, paired across backbones).
 */
import type { MeanStd } from './metrics';

export type Alternative = 'two-sided' | 'less' | 'greater';

// ---------------------------------------------------------------- special functions

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

// Continued fraction for I_x(a, b) (modified Lentz), valid for x < (a+1)/(a+b+2).
function betaCF(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) return h;
  }
  return h;
}

// Stirling-series remainder lnΓ(x) − [(x − ½)ln x − x + ½ln 2π], for x ≥ 10 (error < 1e-14).
function lgammaCorr(x: number): number {
  const x2 = 1 / (x * x);
  return (1 / 12 - x2 * (1 / 360 - x2 * (1 / 1260 - x2 * (1 / 1680 - x2 / 1188)))) / x;
}

/**
 * ln B(a, b) without the cancellation of ln Γ(a + b) − ln Γ(a) − ln Γ(b) when an argument
 * is large (the t distribution with large df), following the split used by R's `lbeta`.
 *
 * @example Math.exp(lnBeta(2, 3)) // 1/12
 */
export function lnBeta(a: number, b: number): number {
  const p = Math.min(a, b), q = Math.max(a, b);
  if (p >= 10) {
    const corr = lgammaCorr(p) + lgammaCorr(q) - lgammaCorr(p + q);
    return -0.5 * Math.log(q) + 0.5 * Math.log(2 * Math.PI) + corr + (p - 0.5) * Math.log(p / (p + q)) + q * Math.log1p(-p / (p + q));
  }
  if (q >= 10) {
    const corr = lgammaCorr(q) - lgammaCorr(p + q);
    return lnGamma(p) + corr + p - p * Math.log(p + q) + (q - 0.5) * Math.log1p(-p / (p + q));
  }
  return lnGamma(p) + lnGamma(q) - lnGamma(p + q);
}

// I_x(a, b) given both x and y = 1 − x, so that callers can pass the accurate small one.
function ibeta(x: number, y: number, a: number, b: number): number {
  if (!(a > 0 && b > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const lx = x < 0.5 ? Math.log(x) : Math.log1p(-y);
  const ly = y < 0.5 ? Math.log(y) : Math.log1p(-x);
  const front = Math.exp(a * lx + b * ly - lnBeta(a, b));
  if (x < (a + 1) / (a + b + 2)) return (front * betaCF(a, b, x)) / a;
  return 1 - (front * betaCF(b, a, y)) / b;
}

/**
 * Regularised incomplete beta I_x(a, b) = B(x; a, b) / B(a, b), for a, b > 0, 0 ≤ x ≤ 1
 * (continued fraction, modified Lentz; relative accuracy ~1e-14).
 *
 * @example incompleteBeta(0.5, 2, 2) // 0.5
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  return ibeta(x, 1 - x, a, b);
}

/** Regularised upper incomplete gamma Q(a, x) (series / continued fraction). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lg = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let ap = a, del = 1 / a, sum = del;
    for (let n = 0; n < 10000; n++) { ap += 1; del *= x / ap; sum += del; if (Math.abs(del) < Math.abs(sum) * 1e-17) break; }
    return 1 - sum * Math.exp(lg);
  }
  const TINY = 1e-300;
  let b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(lg) * h;
}

/**
 * Standard normal upper tail P(Z > z), accurate in the far tail.
 *
 * @example normalSf(1.959963984540054) // 0.025
 */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 1 - normalSf(-z);
  return 0.5 * gammaQ(0.5, (z * z) / 2);
}

/** Standard normal CDF P(Z ≤ z). @example normalCdf(0) // 0.5 */
export function normalCdf(z: number): number {
  return normalSf(-z);
}

/**
 * Student-t upper tail P(T > t) with `df` degrees of freedom (df > 0, may be fractional).
 *
 * @example studentTSf(12.706204736174698, 1) // 0.025
 */
export function studentTSf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  // x = df/(df+t²) and 1 − x = t²/(df+t²), each formed without cancellation.
  const tail = 0.5 * ibeta(df / (df + t * t), (t * t) / (df + t * t), df / 2, 0.5);
  return t > 0 ? tail : 1 - tail;
}

/**
 * Student-t CDF P(T ≤ t): 1 − I_{df/(df+t²)}(df/2, 1/2)/2 for t > 0, by symmetry otherwise.
 *
 * @example studentTCdf(2.228138851986, 10) // 0.975 (t-table, df 10)
 */
export function studentTCdf(t: number, df: number): number {
  return studentTSf(-t, df);
}

// ---------------------------------------------------------------- tests

/** Result of a test; `df` only for t-tests, `method` only for Wilcoxon. */
export interface TestResult {
  statistic: number;
  pvalue: number;
  df?: number;
  method?: 'exact' | 'permutation' | 'asymptotic';
}

function pFromT(t: number, df: number, alternative: Alternative): number {
  if (alternative === 'less') return studentTCdf(t, df);
  if (alternative === 'greater') return studentTSf(t, df);
  return Math.min(1, 2 * studentTSf(Math.abs(t), df));
}

/**
 * Paired t-test on `a − b`, as `scipy.stats.ttest_rel(a, b, alternative)`: t = mean(d) /
 * (sd(d, ddof=1)/√n), df = n − 1. 'less' tests mean(a − b) < 0, 'greater' > 0. Differences
 * that are all equal (to the rounding of the inputs) give t = ±∞ (p 0 or 1), all zero t = NaN;
 * scipy divides the rounding noise instead (t ~ 1e15 and a warning).
 * The authors call `ttest_rel(baseline, mdmt, alternative='less')` (MDMT greater).
 *
 * @example ttestRel(group1, group2).pvalue // R sleep data: t = -4.0621, p = 0.002833
 */
export function ttestRel(a: readonly number[], b: readonly number[], alternative: Alternative = 'two-sided'): TestResult {
  if (a.length !== b.length) throw new Error(`ttestRel: samples have ${a.length} and ${b.length} values`);
  const n = a.length;
  const df = n - 1;
  if (n < 2) return { statistic: NaN, pvalue: NaN, df: n ? df : NaN };
  const d = a.map((v, i) => v - b[i]!);
  const mean = d.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / df);
  // differences equal up to the rounding of the inputs (0.65 − 0.6 and 0.67 − 0.62 differ in
  // the last bit) have no variance: t is ±∞, not a t of 1e15 and a p-value made of rounding noise
  // (and differences all within that rounding of 0 are all zero: t undefined)
  const tol = 8 * Number.EPSILON * Math.max(...a.map(Math.abs), ...b.map(Math.abs));
  const t = Number.isNaN(sd) || sd > tol ? mean / (sd / Math.sqrt(n)) : Math.abs(mean) <= tol ? NaN : mean > 0 ? Infinity : -Infinity;
  return { statistic: t, pvalue: pFromT(t, df, alternative), df };
}

/** Average ranks (1-based) of `v`, ties get the mean of their positions; also tie group sizes. */
export function rankAverage(v: readonly number[]): { ranks: number[]; ties: number[] } {
  const idx = v.map((_, i) => i).sort((i, j) => v[i]! - v[j]!);
  const ranks = new Array<number>(v.length);
  const ties: number[] = [];
  for (let s = 0; s < idx.length;) {
    let e = s;
    while (e + 1 < idx.length && v[idx[e + 1]!] === v[idx[s]!]) e++;
    for (let k = s; k <= e; k++) ranks[idx[k]!] = (s + e) / 2 + 1;
    ties.push(e - s + 1);
    s = e + 1;
  }
  return { ranks, ties };
}

// Number of sign assignments giving each value of Σ(positive weights); weights are integers.
function subsetSumCounts(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let counts = new Array<number>(total + 1).fill(0);
  counts[0] = 1;
  for (const w of weights) {
    const next = counts.slice();
    for (let s = 0; s + w <= total; s++) if (counts[s]) next[s + w]! += counts[s]!;
    counts = next;
  }
  return counts;
}

export interface WilcoxonOptions {
  alternative?: Alternative;
  /** Continuity correction in the normal approximation (scipy default false). */
  correction?: boolean;
  /** 'auto' (scipy): exact if n ≤ 50 with no ties or zeros; an exhaustive sign-flip test if
   *  there are ties/zeros and n ≤ 13; the normal approximation otherwise. 'exact' with ties
   *  uses the tie-free null of ranks 1..n, as scipy (conservative rounding of R+). */
  method?: 'auto' | 'exact' | 'asymptotic';
}

/**
 * Wilcoxon signed-rank test of `x − y` (or of `x` alone), as `scipy.stats.wilcoxon` with
 * zero_method='wilcox' (zero differences dropped) and nan_policy='propagate' (a NaN
 * difference gives a NaN statistic and p-value, as ttestRel). The statistic is min(R+, R−) for
 * 'two-sided' and R+ otherwise. Exact p-values come from the distribution of R+ over all
 * 2^n sign assignments; the normal approximation uses mean n(n+1)/4, variance
 * (n(n+1)(2n+1) − Σ(t³ − t)/2)/24 over tie groups t, and optionally ±0.5 continuity.
 *
 * @example wilcoxon([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]) // { statistic: 24, pvalue: 0.041259765625 }
 */
export function wilcoxon(x: readonly number[], y?: readonly number[], opts: WilcoxonOptions = {}): TestResult {
  const alternative = opts.alternative ?? 'two-sided';
  if (y && y.length !== x.length) throw new Error(`wilcoxon: samples have ${x.length} and ${y.length} values`);
  const dAll = y ? x.map((v, i) => v - y[i]!) : x.slice();
  // scipy's nan_policy='propagate': a NaN (or inf − inf) difference has no rank; dropping it or
  // sorting by it (NaN compares false) gave a p-value of the other pairs as if it were this test's
  if (dAll.some(Number.isNaN)) return { statistic: NaN, pvalue: NaN };
  const nZero = dAll.filter((v) => v === 0).length;
  const d = dAll.filter((v) => v !== 0);
  const n = d.length;
  if (dAll.length === 0) return { statistic: NaN, pvalue: NaN };
  if (n === 0) {
    // every difference zero (two identical samples): scipy ≥ 1.13 (_wilcoxon.py) has R+ = R− = 0;
    // 'auto' with ≤ 13 pairs (zeros make it a permutation test), 'exact' and a permutation test all
    // give p = 1 (each sign flip leaves R+ at 0); the normal approximation divides 0 by σ = 0
    const m = opts.method ?? 'auto';
    const asymptotic = m === 'asymptotic' || (m === 'auto' && dAll.length > 13);
    return { statistic: 0, pvalue: asymptotic ? NaN : 1, method: asymptotic ? 'asymptotic' : m === 'auto' ? 'permutation' : m };
  }
  const { ranks, ties } = rankAverage(d.map(Math.abs));
  const rPlus = d.reduce((s, v, i) => s + (v > 0 ? ranks[i]! : 0), 0);
  const rMinus = d.reduce((s, v, i) => s + (v < 0 ? ranks[i]! : 0), 0);
  const statistic = alternative === 'two-sided' ? Math.min(rPlus, rMinus) : rPlus;
  const hasTies = ties.some((t) => t > 1);

  const method = opts.method ?? 'auto';
  let resolved: 'exact' | 'permutation' | 'asymptotic';
  if (method === 'auto') resolved = dAll.length > 50 ? 'asymptotic' : !hasTies && nZero === 0 ? 'exact' : dAll.length <= 13 ? 'permutation' : 'asymptotic';
  else resolved = method;

  if (resolved === 'asymptotic') {
    const mn = (n * (n + 1)) / 4;
    const tieSum = ties.reduce((s, t) => s + t ** 3 - t, 0);
    const se = Math.sqrt((n * (n + 1) * (2 * n + 1) - tieSum / 2) / 24);
    let z = (rPlus - mn) / se;
    if (opts.correction) z -= ((alternative === 'greater' ? 1 : alternative === 'less' ? -1 : Math.sign(z)) * 0.5) / se;
    const p = alternative === 'greater' ? normalSf(z) : alternative === 'less' ? normalCdf(z) : 2 * normalSf(Math.abs(z));
    return { statistic, pvalue: Math.min(1, p), method: resolved };
  }
  // Exact null of R+: ranks doubled to integers, all 2^n signs equally likely. 'exact' is
  // scipy's: the tie-free null of ranks 1..n whatever the ties; 'permutation' flips the signs of
  // the observed (tie-averaged, possibly half) ranks.
  const w = resolved === 'exact' ? ranks.map((_, i) => 2 * (i + 1)) : ranks.map((r) => Math.round(2 * r));
  const counts = subsetSumCounts(w);
  const total = 2 ** n;
  const obs = 2 * rPlus;
  // scipy 'exact' rounds a non-integral R+ up for 'less' and down for 'greater'.
  const lo = resolved === 'exact' ? 2 * Math.ceil(rPlus) : obs;
  const hi = resolved === 'exact' ? 2 * Math.floor(rPlus) : obs;
  let pLess = 0, pGreater = 0;
  for (let s = 0; s < counts.length; s++) {
    if (s <= lo + 1e-9) pLess += counts[s]!;
    if (s >= hi - 1e-9) pGreater += counts[s]!;
  }
  pLess /= total; pGreater /= total;
  const p = alternative === 'less' ? pLess : alternative === 'greater' ? pGreater : Math.min(1, 2 * Math.min(pLess, pGreater));
  return { statistic, pvalue: p, method: resolved };
}

/**
 * The paper's significance marks: '***' p < .001, '**' p < .01, '*' p < .05, '' otherwise
 * (also for NaN).
 *
 * @example stars(0.004) // '**'
 */
export function stars(p: number): string {
  return p < 0.001 ? '***' : p < 0.01 ? '**' : p < 0.05 ? '*' : '';
}

// ---------------------------------------------------------------- the paper's comparison set

/** Fold mean/std of each metric for one backbone × experiment × protocol. */
export interface ExperimentSummary {
  backbone: string;
  experiment: string;
  protocol: string;
  metrics: Record<string, MeanStd>;
}

/** One cell of Table 2. */
export interface Comparison {
  protocol: string;
  /** 'mean': H1 MDMT's fold mean is greater; 'std': H1 MDMT's fold std is smaller. */
  stat: 'mean' | 'std';
  baseline: string;
  metric: string;
  /** Backbones paired in the test. */
  n: number;
  /** Averages over the paired backbones of the tested statistic. */
  target: number;
  base: number;
  t: TestResult;
  wilcoxon: TestResult;
  stars: string;
}

export interface ComparisonOptions {
  target?: string;
  baselines?: readonly string[];
  protocols?: readonly string[];
  metrics?: readonly string[];
}

/**
 * Table 2 of the paper: for each protocol, baseline (STL τ1, FT) and metric, one-tailed
 * paired tests across backbones of MDMT's fold mean > the baseline's
 * (`ttest_rel(base, mdmt, 'less')`, as the authors' script) and of MDMT's fold std < the
 * baseline's (`ttest_rel(mdmt, base, 'less')`), with the Wilcoxon test in the same
 * direction. Backbones missing either experiment are left out of that pair.
 *
 * @example paperComparisons(summaries).filter((c) => c.stars === '***')
 */
export function paperComparisons(summaries: readonly ExperimentSummary[], opts: ComparisonOptions = {}): Comparison[] {
  const target = opts.target ?? 'mdmt';
  const baselines = opts.baselines ?? ['stl_afc', 'ft'];
  const protocols = opts.protocols ?? ['cv', 'loco'];
  const metrics = opts.metrics ?? ['acc', 'f1', 'gmean'];
  const key = (s: { backbone: string; experiment: string; protocol: string }) => `${s.protocol}\u0000${s.experiment}\u0000${s.backbone}`;
  const byKey = new Map(summaries.map((s) => [key(s), s]));
  const backbones = [...new Set(summaries.map((s) => s.backbone))].sort();
  const out: Comparison[] = [];
  for (const stat of ['mean', 'std'] as const) {
    for (const baseline of baselines) {
      for (const protocol of protocols) {
        for (const metric of metrics) {
          const tv: number[] = [], bv: number[] = [];
          for (const backbone of backbones) {
            const t = byKey.get(key({ backbone, experiment: target, protocol }))?.metrics[metric];
            const b = byKey.get(key({ backbone, experiment: baseline, protocol }))?.metrics[metric];
            if (t && b && Number.isFinite(t[stat]) && Number.isFinite(b[stat])) { tv.push(t[stat]); bv.push(b[stat]); }
          }
          const [lhs, rhs] = stat === 'mean' ? [bv, tv] : [tv, bv];
          const tt = ttestRel(lhs, rhs, 'less');
          const wx = tv.length > 0 ? wilcoxon(lhs, rhs, { alternative: 'less' }) : { statistic: NaN, pvalue: NaN };
          const avg = (v: number[]) => (v.length ? v.reduce((a, c) => a + c, 0) / v.length : NaN);
          out.push({ protocol, stat, baseline, metric, n: tv.length, target: avg(tv), base: avg(bv), t: tt, wilcoxon: wx, stars: stars(tt.pvalue) });
        }
      }
    }
  }
  return out;
}
