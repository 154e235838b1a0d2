/**
 * From per-fold runs to the paper's tables: per-backbone fold summaries, Table 1
 * (averages over backbones) and Table 2 (paired tests across backbones).
 */
import { MdmtError } from '../errors';
import { addConfusion, meanStd, metricsFromConfusion, summarizeFolds, type MeanStd } from '../train/metrics';
import { paperComparisons, type Comparison, type ExperimentSummary } from '../train/stats';
import { hasTestMetrics, type Experiment, type Protocol, type ReportOptions, type RunResult } from './types';

export const TABLE_METRICS = ['acc', 'f1', 'gmean'] as const;
export const TABLE1_EXPERIMENTS: readonly Experiment[] = ['stl_afc', 'ft', 'mdmt'];
export const PROTOCOLS: readonly Protocol[] = ['cv', 'loco'];

/** Summary of one backbone × experiment × protocol, with its folds. */
export interface RunSummary extends ExperimentSummary {
  experiment: Experiment;
  protocol: Protocol;
  folds: number;
  /** the finished folds (names), sorted */
  foldNames: string[];
  /** how μ was computed: mean of the fold metrics, or the metric of the pooled confusion matrix */
  mu: 'folds' | 'pooled';
}

/**
 * Groups runs by backbone × experiment × protocol and summarises each metric across folds
 * (mean, std with `ddof`). With `mu: 'pooled'` and confusion matrices on every fold, the
 * mean is replaced by the metric of the summed confusion matrix.
 *
 * @example summarizeRuns(results).find((s) => s.backbone === 'resnet18' && s.experiment === 'mdmt')
 */
export function summarizeRuns(results: readonly RunResult[], opts: ReportOptions = {}): RunSummary[] {
  const groups = new Map<string, RunResult[]>();
  // a fold without test records of the run's task has no metrics: it is no fold of the summary
  // (its NaN made μ NaN, counted as a fold, and named a backbone's one fold 'σ undefined')
  for (const r of results.filter(hasTestMetrics)) {
    const k = `${r.backbone}\u0000${r.experiment}\u0000${r.protocol}`;
    const g = groups.get(k);
    if (g) g.push(r); else groups.set(k, [r]);
  }
  const out: RunSummary[] = [];
  for (const runs of groups.values()) {
    const seen = new Set<string>();
    for (const r of runs) {
      if (seen.has(String(r.fold))) throw new MdmtError('EDATA', 'summarizeRuns', `fold ${r.fold} of ${r.backbone}/${r.experiment}/${r.protocol} appears twice`);
      seen.add(String(r.fold));
    }
    const metrics: Record<string, MeanStd> = summarizeFolds(runs.map((r) => r.metrics), { ddof: opts.ddof });
    // σ of one fold is undefined, not 0 (ddof 0 gave '± 0.0', which entered σ̄ and the σ tests as perfect stability)
    if (runs.length < 2) for (const m of Object.keys(metrics)) metrics[m] = { ...metrics[m]!, std: NaN };
    // pooled needs every fold's confusion matrix; otherwise μ stays the fold mean (and says so)
    const pooled = opts.mu === 'pooled' && runs.every((r) => r.cm?.length);
    if (pooled) {
      // a plain 'addConfusion: sizes 2 and 3 differ' named no run
      const odd = runs.find((r) => r.cm!.length !== runs[0]!.cm!.length);
      if (odd) throw new MdmtError('EDATA', 'summarizeRuns', `pooled μ of ${odd.backbone}/${odd.experiment}/${odd.protocol} adds its folds' confusion matrices, but fold ${runs[0]!.fold}'s is ${runs[0]!.cm!.length}×${runs[0]!.cm!.length} and fold ${odd.fold}'s ${odd.cm!.length}×${odd.cm!.length}`);
      const cm = metricsFromConfusion(addConfusion(...runs.map((r) => r.cm!)));
      for (const m of TABLE_METRICS) if (metrics[m]) metrics[m] = { ...metrics[m]!, mean: cm[m] };
    }
    const { backbone, experiment, protocol } = runs[0]!;
    const foldNames = runs.map((r) => String(r.fold)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    out.push({ backbone, experiment, protocol, metrics, folds: runs.length, foldNames, mu: pooled ? 'pooled' : 'folds' });
  }
  return out.sort((a, b) => a.backbone.localeCompare(b.backbone) || a.protocol.localeCompare(b.protocol) || a.experiment.localeCompare(b.experiment));
}

/**
 * Summaries on τ2 (BRIXIA): the STL τ2 runs and the τ2 metrics (`bxMetrics`) of the MDMT
 * runs, labelled 'stl_bx' and 'mdmt'. Empty when no run carries τ2 results.
 *
 * @example table1(summarizeTau2(results), ['stl_bx', 'mdmt'])
 */
export function summarizeTau2(results: readonly RunResult[], opts: ReportOptions = {}): RunSummary[] {
  const tau2 = results.flatMap((r): RunResult[] => {
    // a jointly split LOCO centre without τ2 films has no τ2 test metrics
    if (!Number.isFinite((r.experiment === 'mdmt' ? r.bxMetrics : r.metrics)?.acc ?? NaN)) return [];
    if (r.experiment === 'stl_bx') return [r];
    if (r.experiment === 'mdmt' && r.bxMetrics) return [{ ...r, metrics: r.bxMetrics, cm: undefined }];
    return [];
  });
  return summarizeRuns(tau2, { ...opts, mu: 'folds' });
}

/** One Table 1 cell: average over backbones of the fold mean (μ̄) and of the fold std (σ̄). */
export interface Table1Cell {
  mean: number;
  std: number;
  /** Std of the per-backbone means (spread across backbones). */
  stdAcrossBackbones: number;
  backbones: number;
  /** backbones whose σ entered σ̄ (those with 2 folds or more; σ of one fold is undefined) */
  stdBackbones: number;
  /** built from fewer backbones or folds than the sweep's others (see `sweepGaps`) */
  partial: boolean;
}

export type Table1 = Record<string, Record<string, Record<string, Table1Cell | undefined>>>;

/** One backbone × experiment × protocol of a table that lacks folds the sweep's others have. */
export interface SweepGap {
  experiment: Experiment;
  protocol: Protocol;
  backbone: string;
  /** the folds it lacks (all of them when the backbone has no run of this experiment) */
  missing: string[];
  /** the folds it should have */
  expected: number;
}

const byFold = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * The groups of a table built from fewer folds than the sweep's others. Per protocol, a table
 * expects every backbone that has a run of any of its `experiments`, each with the union of
 * the folds finished by any backbone of the same experiment, or, with `sharedFolds` (the τ1
 * experiments, which share their splits), of any of the `experiments`. An experiment with no
 * run under a protocol expects nothing there (its cells show '–').
 *
 * @example sweepGaps(summaries) // [{ experiment: 'ft', protocol: 'cv', backbone: 'mobilenet_v2', missing: ['0'], expected: 2 }]
 */
export function sweepGaps(summaries: readonly RunSummary[], experiments: readonly Experiment[] = TABLE1_EXPERIMENTS, sharedFolds = !experiments.includes('stl_bx')): SweepGap[] {
  const out: SweepGap[] = [];
  for (const p of PROTOCOLS) {
    const rows = summaries.filter((s) => s.protocol === p && experiments.includes(s.experiment));
    const backbones = [...new Set(rows.map((s) => s.backbone))].sort();
    for (const e of experiments) {
      const own = rows.filter((s) => s.experiment === e);
      if (!own.length) continue;
      const expected = [...new Set((sharedFolds ? rows : own).flatMap((s) => s.foldNames))].sort(byFold);
      for (const b of backbones) {
        const have = new Set(own.find((s) => s.backbone === b)?.foldNames ?? []);
        const missing = expected.filter((f) => !have.has(f));
        if (missing.length) out.push({ experiment: e, protocol: p, backbone: b, missing, expected: expected.length });
      }
    }
  }
  return out;
}

/**
 * Table 1: `table[experiment][protocol][metric]`, averages over backbones. A cell built from
 * fewer backbones or folds than the sweep's others is `partial`; σ̄ averages the backbones
 * with a defined σ (2 folds or more), counted in `stdBackbones`.
 *
 * @example table1(summaries).mdmt.cv.acc?.mean // e.g. 0.686 (a cell without runs is undefined)
 */
export function table1(summaries: readonly RunSummary[], experiments: readonly Experiment[] = TABLE1_EXPERIMENTS, sharedFolds = !experiments.includes('stl_bx')): Table1 {
  const gaps = sweepGaps(summaries, experiments, sharedFolds);
  const t: Table1 = {};
  for (const e of experiments) {
    t[e] = {};
    for (const p of PROTOCOLS) {
      t[e]![p] = {};
      const all = new Set(summaries.filter((s) => s.protocol === p && experiments.includes(s.experiment)).map((s) => s.backbone)).size;
      const gap = gaps.some((g) => g.experiment === e && g.protocol === p);
      for (const m of TABLE_METRICS) {
        const rows = summaries.filter((s) => s.experiment === e && s.protocol === p && s.metrics[m]);
        if (rows.length === 0) continue;
        const means = rows.map((s) => s.metrics[m]!.mean), stds = rows.map((s) => s.metrics[m]!.std).filter(Number.isFinite);
        t[e]![p]![m] = {
          mean: meanStd(means).mean,
          std: meanStd(stds).mean,
          stdAcrossBackbones: meanStd(means).std,
          backbones: rows.length,
          stdBackbones: stds.length,
          // a backbone whose folds lack this metric is missing from the cell as well
          partial: gap || rows.length < all,
        };
      }
    }
  }
  return t;
}

/** One Table 2 cell with what it was computed from. */
export interface Table2Cell extends Comparison {
  /** the backbones' runs of MDMT and the baseline do not all cover the same folds (or some
   *  backbone lacks one of the two): the pairing mixes unequal evidence */
  partial: boolean;
  /** per backbone, finished folds of MDMT / the baseline under this protocol */
  folds: Record<string, { target: number; baseline: number }>;
}

/**
 * Table 2: MDMT vs STL τ1 and vs FT on μ (greater) and σ (smaller), paired across backbones,
 * one-tailed paired t-test with the Wilcoxon signed-rank test alongside. A cell of a partial
 * sweep (backbones with unequal finished folds) is marked `partial`.
 *
 * @example table2(summaries).filter((c) => c.stat === 'mean' && c.baseline === 'ft')
 */
export function table2(summaries: readonly RunSummary[]): Table2Cell[] {
  return paperComparisons(summaries, { target: 'mdmt', baselines: ['stl_afc', 'ft'], protocols: PROTOCOLS, metrics: TABLE_METRICS }).map((c) => {
    const of = (e: string) => new Map(summaries.filter((s) => s.experiment === e && s.protocol === c.protocol).map((s) => [s.backbone, s]));
    const t = of('mdmt'), b = of(c.baseline);
    const backbones = [...new Set([...t.keys(), ...b.keys()])].sort();
    const folds = Object.fromEntries(backbones.map((k) => [k, { target: t.get(k)?.folds ?? 0, baseline: b.get(k)?.folds ?? 0 }]));
    // joined by NUL: by ',' the LOCO centres 'a,b' + 'c' and 'a' + 'b,c' were the same set
    const sets = backbones.flatMap((k) => [t.get(k)?.foldNames.join('\u0000') ?? '', b.get(k)?.foldNames.join('\u0000') ?? '']);
    return { ...c, partial: new Set(sets).size > 1, folds };
  });
}
