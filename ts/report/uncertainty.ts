/**
 * How far the numbers can be trusted, and where the model fails: 95 % percentile-bootstrap
 * intervals of ACC, F1 and G-mean per run (its test set, 1,000 seeded resamples) and for the
 * mean over the folds of each backbone × experiment × protocol (ts/train/bootstrap.ts), and
 * per-centre metrics: every fold's test predictions pooled by centre (CV: each test sample
 * is in one fold; LOCO: each fold tests one held-out centre). Needs the per-sample test
 * outputs that train() stores (`RunResult.predictions`); runs without them are left out.
 *
 *   const u = uncertaintyTables(results);  u?.folds;  u?.centres.cv   // Markdown tables
 */
import { MdmtError } from '../errors';
import { CI_METRICS, foldIntervals, type BootstrapOptions, type CiMetric, type Interval, type LabelSet } from '../train/bootstrap';
import { confusionMatrix, metricsFromConfusion, type FoldMetrics } from '../train/metrics';
import { TABLE1_EXPERIMENTS } from './aggregate';
import { mainHead } from './reliability';
import { mdTable, pct, toCsv } from './tables';
import { EXPERIMENT_LABEL, METRIC_LABEL, PROTOCOL_LABEL, type Experiment, type Protocol, type RunResult } from './types';

/** A run's main-head test labels (predicted = argmax of the logits), or undefined. */
export function testLabels(r: RunResult): (LabelSet & { centers: string[] }) | undefined {
  const p = r.predictions?.[mainHead(r)];
  if (!p?.yTrue.length) return undefined;
  const yPred = p.logits.map((z) => z.reduce((b, v, j) => (v > z[b]! ? j : b), 0));
  return { yTrue: p.yTrue, yPred, nClasses: p.logits[0]!.length, centers: p.centers };
}

export interface IntervalRow {
  backbone: string;
  experiment: Experiment;
  protocol: Protocol;
  /** the fold, or 'all' for the mean over folds */
  fold: string;
  n: number;
  ci: Record<CiMetric, Interval>;
}

/**
 * Bootstrap intervals per run and per group (mean over its folds), groups first.
 *
 * @example intervalRows(results, { resamples: 1000, seed: 0 }).filter((r) => r.fold === 'all')
 */
export function intervalRows(results: readonly RunResult[], o: BootstrapOptions = {}): IntervalRow[] {
  const groups = new Map<string, { r: RunResult; s: LabelSet }[]>();
  for (const r of results) {
    const s = testLabels(r);
    if (!s) continue;
    const k = `${r.backbone}\u0000${r.experiment}\u0000${r.protocol}`;
    groups.set(k, [...(groups.get(k) ?? []), { r, s }]);
  }
  const out: IntervalRow[] = [];
  for (const g of groups.values()) {
    const { backbone, experiment, protocol } = g[0]!.r;
    const row = (fold: string, sets: LabelSet[]): IntervalRow => ({ backbone, experiment, protocol, fold, n: sets.reduce((a, s) => a + s.yTrue.length, 0), ci: foldIntervals(sets, o) });
    out.push(row('all', g.map((x) => x.s)), ...g.map((x) => row(String(x.r.fold), [x.s])));
  }
  return out.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.backbone.localeCompare(b.backbone) || a.experiment.localeCompare(b.experiment));
}

const ci = (i: Interval) => `${pct(i.estimate)} [${pct(i.lo)}, ${pct(i.hi)}]`;

export interface CentreRow {
  protocol: Protocol;
  backbone: string;
  experiment: Experiment;
  centre: string;
  n: number;
  /** how many classes the centre's test images hold (G-mean needs both prognoses) */
  classes: number;
  metrics: FoldMetrics;
}

/**
 * Test metrics per centre, pooled over the folds of each backbone × experiment × protocol.
 *
 * @example centreRows(results).filter((c) => c.protocol === 'loco')
 */
export function centreRows(results: readonly RunResult[]): CentreRow[] {
  const acc = new Map<string, { key: Omit<CentreRow, 'n' | 'classes' | 'metrics'>; yTrue: number[]; yPred: number[]; C: number }>();
  // the first fold's class count per backbone × experiment × protocol
  const classes = new Map<string, { fold: string; n: number }>();
  for (const r of results) {
    const s = testLabels(r);
    if (!s) continue;
    // the folds pooled here must score the same classes (a plain 'confusionMatrix: label pair (2, 2) … outside 0..1')
    const g = [r.protocol, r.backbone, r.experiment].join('\u0000'), first = classes.get(g) ?? { fold: String(r.fold), n: s.nClasses };
    classes.set(g, first);
    if (first.n !== s.nClasses) throw new MdmtError('EDATA', 'centreRows', `${r.backbone}/${r.experiment}/${r.protocol}: the stored test logits of fold ${first.fold} have ${first.n} classes, of fold ${r.fold} ${s.nClasses}`);
    s.centers.forEach((centre, i) => {
      const k = [r.protocol, r.backbone, r.experiment, centre].join('\u0000');
      const a = acc.get(k) ?? { key: { protocol: r.protocol, backbone: r.backbone, experiment: r.experiment, centre }, yTrue: [], yPred: [], C: s.nClasses };
      a.yTrue.push(s.yTrue[i]!);
      a.yPred.push(s.yPred[i]!);
      acc.set(k, a);
    });
  }
  return [...acc.values()].map((a) => ({ ...a.key, n: a.yTrue.length, classes: new Set(a.yTrue).size, metrics: metricsFromConfusion(confusionMatrix(a.yTrue, a.yPred, a.C)) }))
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.backbone.localeCompare(b.backbone) || a.centre.localeCompare(b.centre) || a.experiment.localeCompare(b.experiment));
}

/**
 * The per-centre table of one protocol: rows backbone × centre (n = τ1 test images), columns
 * metric × τ1 experiment; the weakest centre of each backbone and column in bold (each that
 * ties for it at the printed precision).
 */
export function centreMarkdown(rows: readonly CentreRow[], protocol: Protocol, experiments: readonly Experiment[] = TABLE1_EXPERIMENTS): string {
  const mine = rows.filter((c) => c.protocol === protocol && experiments.includes(c.experiment));
  const keys = [...new Set(mine.map((c) => `${c.backbone}\u0000${c.centre}`))];
  const get = (b: string, c: string, e: string) => mine.find((x) => x.backbone === b && x.centre === c && x.experiment === e);
  // a centre whose test images are all one prognosis has no specificity: its G-mean (0 by
  // imblearn's convention) is undefined, shown '–' and never the "weakest" (it was bold at
  // 0.0 beside 100 % accuracy)
  const value = (x: CentreRow, m: string) => (m === 'gmean' && x.classes < 2 ? NaN : x.metrics[m]!);
  // the weakest of 2 centres or more: a backbone tested on one centre (a CV split of one-centre data) had every cell bold
  const low = (b: string, e: string, m: string) => {
    const v = mine.filter((x) => x.backbone === b && x.experiment === e).map((x) => value(x, m)).filter(Number.isFinite);
    return v.length > 1 ? Math.min(...v) : NaN;
  };
  const cols = CI_METRICS.flatMap((m) => experiments.map((e) => [m, e] as const));
  const body = keys.map((k) => {
    const [b, c] = k.split('\u0000') as [string, string];
    const n = Math.max(...experiments.map((e) => get(b, c, e)?.n ?? 0));
    return [b, c, String(n), ...cols.map(([m, e]) => {
      const x = get(b, c, e);
      if (!x) return '–';
      const v = value(x, m);
      // every centre that ties for the weakest as printed: 60.04 and 59.96 both show 60.0
      return Number.isFinite(v) && pct(v) === pct(low(b, e, m)) ? `**${pct(v)}**` : pct(v);
    })];
  });
  const table = mdTable(['Backbone', 'Centre', 'n', ...cols.map(([m, e]) => `${METRIC_LABEL[m]} ${EXPERIMENT_LABEL[e]}`)], body);
  return mine.some((x) => x.classes < 2) ? `${table}\n\nGM – : the centre's test images are all of one prognosis, so G-mean (which needs the specificity) is undefined.` : table;
}

/**
 * The report's uncertainty and per-centre tables (Markdown + CSV), or undefined when no run
 * stored test outputs.
 *
 * @example const u = uncertaintyTables(results, { resamples: 1000, seed: 0 });
 */
export function uncertaintyTables(results: readonly RunResult[], o: BootstrapOptions = {}) {
  const iv = intervalRows(results, o);
  if (!iv.length) return undefined;
  const head = ['Backbone', 'Experiment', 'Protocol', 'Fold', 'n', ...CI_METRICS.map((m) => `${METRIC_LABEL[m]} [95% CI]`)];
  const md = (rows: IntervalRow[]) => mdTable(head, rows.map((r) => [r.backbone, EXPERIMENT_LABEL[r.experiment], PROTOCOL_LABEL[r.protocol], r.fold === 'all' ? 'mean of folds' : r.fold, String(r.n), ...CI_METRICS.map((m) => ci(r.ci[m]))]));
  const centres = centreRows(results);
  const protocols = (['cv', 'loco'] as const).filter((p) => centres.some((c) => c.protocol === p && TABLE1_EXPERIMENTS.includes(c.experiment)));
  return {
    folds: md(iv.filter((r) => r.fold === 'all')),
    runs: md(iv.filter((r) => r.fold !== 'all')),
    intervalsCsv: toCsv(['backbone', 'experiment', 'protocol', 'fold', 'n', 'metric', 'estimate', 'lo', 'hi', 'level', 'resamples'],
      iv.flatMap((r) => CI_METRICS.map((m) => [r.backbone, r.experiment, r.protocol, r.fold, r.n, m, r.ci[m].estimate, r.ci[m].lo, r.ci[m].hi, r.ci[m].level, r.ci[m].resamples]))),
    centres: Object.fromEntries(protocols.map((p) => [p, centreMarkdown(centres, p)])) as Partial<Record<Protocol, string>>,
    centresCsv: toCsv(['protocol', 'backbone', 'experiment', 'centre', 'n', 'classes', 'acc', 'f1', 'gmean'], centres.map((c) => [c.protocol, c.backbone, c.experiment, c.centre, c.n, c.classes, c.metrics.acc, c.metrics.f1, c.metrics.gmean])),
  };
}
