/**
 * Markdown and CSV renderings of Table 1, Table 2 and the per-backbone tables. Markdown
 * shows percentages with one decimal as the paper; CSV keeps full-precision fractions.
 */
import { stars, type Comparison } from '../train/stats';
import { PROTOCOLS, sweepGaps, TABLE1_EXPERIMENTS, TABLE_METRICS, type RunSummary, type Table1 } from './aggregate';
import { EXPERIMENT_LABEL, METRIC_LABEL, PROTOCOL_LABEL, type Experiment } from './types';

export const pct = (v: number | undefined, d = 1): string => (v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(d));

/** A cell's text as one table cell: a '|' in it ended the cell and a line break the row (a
 *  backbone 'a|b' or a centre name with a newline shifted every column after it). */
const mdCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r\n?|\n/g, ' ');

export function mdTable(head: string[], rows: string[][], align?: string[]): string {
  const al = align ?? head.map((_, i) => (i === 0 ? ':---' : '---:'));
  const line = (cells: string[]) => `| ${cells.map(mdCell).join(' | ')} |`;
  return [line(head), `| ${al.join(' | ')} |`, ...rows.map(line)].join('\n');
}

function csvCell(v: unknown): string {
  // ±inf (t of differences without variance) as pandas and numpy read it; NaN stays empty
  const num = (x: number) => (Number.isFinite(x) ? String(x) : Number.isNaN(x) ? '' : x > 0 ? 'inf' : '-inf');
  const s = v === undefined || v === null ? '' : typeof v === 'number' ? num(v) : typeof v === 'object' ? JSON.stringify(v) : String(v as string | boolean | bigint);
  // a CR unquoted ends the row for RFC 4180 readers (Python csv: "new-line character seen in unquoted field")
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV text from a header and rows (RFC 4180 quoting). @example toCsv(['a'], [[1]]) // "a\n1\n" */
export function toCsv(head: string[], rows: unknown[][]): string {
  return [head, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

const cols = PROTOCOLS.flatMap((p) => TABLE_METRICS.map((m) => [p, m] as const));

/**
 * Which cells of a column are bold: those whose μ̄ ties for the best as printed (pct, one decimal
 * of %), so that two cells that both show 73.6 are both bold (the unrounded largest alone was).
 * Ranked are the complete cells, so that a cell built from fewer backbones or folds never
 * outranks or ties them; all (each marked) when none is complete. None when fewer than 2 cells have a value.
 */
function boldOf<C extends { mean: number; partial?: boolean }>(cells: readonly (C | undefined)[]): (c: C | undefined) => boolean {
  const ok = cells.filter((c): c is C => !!c && Number.isFinite(c.mean));
  const complete = ok.filter((c) => !c.partial);
  const ranked = complete.length ? complete : ok;
  const top = pct(Math.max(...ranked.map((c) => c.mean)));
  // one value is compared with nothing: the lone STL τ2 of the τ2 table, or STL τ1 where no FT or MDMT ran, was bold as the best
  return (c) => ok.length > 1 && !!c && ranked.includes(c) && pct(c.mean) === top;
}

/** '† …' and '‡ …' footnotes of the marks a table uses. */
function marksNote(partial: boolean, stdOut: boolean, what: string): string[] {
  return [
    ...(partial ? [`† partial: ${what} than the sweep's others (listed in report.md); not ranked above complete cells.`] : []),
    ...(stdOut ? ['‡ σ undefined (fewer than 2 folds, or no more folds than ddof): σ̄ leaves those backbones out, and so do the σ tests of Table 2.'] : []),
  ];
}

/**
 * Table 1 as Markdown: μ̄ ± σ̄ in % per experiment (rows) and protocol × metric (columns),
 * the best μ̄ of each column as printed in bold (every cell that ties for it). A partial cell (fewer backbones or folds than the
 * sweep's others) carries a †, a σ̄ that leaves out backbones of one fold a ‡, each footnoted.
 *
 * @example table1Markdown(table1(summaries))
 */
export function table1Markdown(t: Table1, experiments: readonly Experiment[] = TABLE1_EXPERIMENTS): string {
  const bold = cols.map(([p, m]) => boldOf(experiments.map((e) => t[e]?.[p]?.[m])));
  let partial = false, stdOut = false;
  const rows = experiments.map((e) => [
    EXPERIMENT_LABEL[e],
    ...cols.map(([p, m], i) => {
      const c = t[e]?.[p]?.[m];
      if (!c) return '–';
      const out = c.stdBackbones < c.backbones;
      partial ||= c.partial; stdOut ||= out;
      const s = `${pct(c.mean)} ± ${pct(c.std)}${out ? '‡' : ''}${c.partial ? ' †' : ''}`;
      return bold[i]!(c) ? `**${s}**` : s;
    }),
  ]);
  const md = mdTable(['Experiment', ...cols.map(([p, m]) => `${PROTOCOL_LABEL[p]} ${METRIC_LABEL[m]}`)], rows);
  const notes = marksNote(partial, stdOut, 'averages fewer backbones or folds');
  return notes.length ? [md, '', ...notes].join('\n') : md;
}

/** Table 1 as CSV, one row per experiment × protocol × metric. */
export function table1Csv(t: Table1): string {
  const rows: unknown[][] = [];
  for (const [e, byP] of Object.entries(t)) {
    for (const [p, byM] of Object.entries(byP)) {
      for (const [m, c] of Object.entries(byM)) if (c) rows.push([e, p, m, c.backbones, c.mean, c.std, c.stdAcrossBackbones, c.stdBackbones, c.partial ? 1 : 0]);
    }
  }
  return toCsv(['experiment', 'protocol', 'metric', 'backbones', 'mean', 'mean_fold_std', 'std_across_backbones', 'std_backbones', 'partial'], rows);
}

const TESTS = [['mean', 'stl_afc'], ['mean', 'ft'], ['std', 'stl_afc'], ['std', 'ft']] as const;

type Cell = Comparison & { partial?: boolean };

function find(c: readonly Cell[], stat: string, baseline: string, p: string, m: string): Cell | undefined {
  return c.find((x) => x.stat === stat && x.baseline === baseline && x.protocol === p && x.metric === m);
}

/** Why a Table 2 cell has no p-value ('' when it has one). */
function notComputable(x: Cell | undefined): '' | 'pairs' | 'identical' {
  if (x && Number.isFinite(x.t.pvalue)) return '';
  return !x || x.n < 2 ? 'pairs' : 'identical';
}

/** "across 4 backbones", "across 3–4 backbones (…)", or "across backbones" when no cell has a test. */
function acrossPhrase(c: readonly Cell[]): string {
  const ns = [...new Set(c.filter((x) => !notComputable(x)).map((x) => x.n))].sort((a, b) => a - b);
  if (!ns.length) return 'across backbones';
  if (ns.length === 1) return `across ${ns[0]} backbones`;
  return `across ${ns[0]}–${ns.at(-1)} backbones (each cell pairs the backbones that have both runs; n per cell in table2.csv)`;
}

/**
 * Table 2 in the paper's layout (stars only; '–' = not significant, 'n/a' = not computable:
 * fewer than 2 paired backbones, or differences that are all zero), followed by the one-tailed
 * p-values of the paired t-test and, in brackets, of the Wilcoxon test. Cells of a partial
 * sweep (backbones with unequal finished folds) carry a †; a t-test p-value from differences
 * that are all equal (t = ±∞) a §, footnoted.
 *
 * @example table2Markdown(table2(summaries))
 */
export function table2Markdown(c: readonly Cell[]): string {
  const head = ['Statistic', 'Test', ...cols.map(([p, m]) => `${PROTOCOL_LABEL[p]} ${METRIC_LABEL[m]}`)];
  const label = (stat: string, b: string, i: number) => [i % 2 === 0 ? (stat === 'mean' ? 'μ ↑' : 'σ ↓') : '', `MDMT vs ${EXPERIMENT_LABEL[b as Experiment]}`];
  const dag = (x: Cell | undefined) => (x?.partial ? ' †' : '');
  const why = new Set<string>();
  const cell = (stat: string, b: string, p: string, m: string, shown: (x: Cell) => string) => {
    const x = find(c, stat, b, p, m);
    const na = notComputable(x);
    if (na) why.add(na);
    return (na || !x ? 'n/a' : shown(x)) + dag(x);
  };
  // t = ±∞ (differences all equal) gives p 0 or 1 whatever the number of backbones: its stars carry the § of its p-value
  const starRows = TESTS.map(([stat, b], i) => [...label(stat, b, i), ...cols.map(([p, m]) => cell(stat, b, p, m, (x) => (x.stars || '–') + (Number.isFinite(x.t.statistic) ? '' : '§')))]);
  let infinite = false;
  const tp = (x: Cell) => {
    if (Number.isFinite(x.t.statistic)) return fmtP(x.t.pvalue);
    infinite = true;
    return `${fmtP(x.t.pvalue)}§`;
  };
  const pRows = TESTS.map(([stat, b], i) => [...label(stat, b, i), ...cols.map(([p, m]) => cell(stat, b, p, m, (x) => `${tp(x)} (${fmtP(x.wilcoxon.pvalue)})`))]);
  const align = ['---', ':---', ...cols.map(() => ':---:')];
  const reasons = [
    ...(why.has('pairs') ? ['fewer than 2 backbones have both MDMT and the baseline (for σ: with 2 folds or more), and a paired test needs 2'] : []),
    ...(why.has('identical') ? ['the paired differences are all zero (no variance), so t is undefined'] : []),
  ];
  return [
    mdTable(head, starRows, align),
    '',
    `\\* p < .05, \\*\\* p < .01, \\*\\*\\* p < .001, – not significant; one-tailed paired t-test ${acrossPhrase(c)} ` +
      '(μ: MDMT greater, σ: MDMT smaller).',
    ...reasons.flatMap((r) => ['', `n/a: not computable: ${r}.`]),
    '',
    mdTable(head, pRows, align),
    '',
    'p-values: paired t-test (Wilcoxon signed-rank).',
    ...(infinite ? ['', '§ the paired differences are all equal (no variance): t is ±∞ and its p-value 0 or 1 whatever the number of backbones; the Wilcoxon p-value beside it says what so few pairs can show.'] : []),
    ...(c.some((x) => x.partial) ? ['', '† partial sweep: the backbones paired in this cell do not all have the same finished folds of MDMT and the baseline.'] : []),
  ].join('\n');
}

/**
 * p-value as 3 decimals (0.188), 2 significant digits below 0.01 (0.0042), 1.2e-5 style below 1e-4; 0 as '0'; non-finite as '–'.
 * More digits where that rounding would carry p across a star threshold: 0.0496 is '0.0496', not
 * '0.050' beside its * (the same '0.050' stood beside '–' where p was 0.0504).
 */
export function fmtP(p: number): string {
  if (!Number.isFinite(p)) return '–';
  if (p === 0) return '0';
  let s = p < 1e-4 ? p.toExponential(1) : p < 0.01 ? p.toPrecision(2) : p.toFixed(3);
  for (let d = 3; stars(Number(s)) !== stars(p) && d <= 17; d++) s = p.toPrecision(d);
  return s;
}

/** Table 2 as CSV with every statistic of both tests. */
export function table2Csv(c: readonly Cell[]): string {
  return toCsv(
    ['protocol', 'stat', 'baseline', 'metric', 'backbones', 'mdmt', 'baseline_value', 't', 'df', 'p_ttest', 'stars', 'wilcoxon_stat', 'p_wilcoxon', 'wilcoxon_method', 'partial'],
    c.map((x) => [x.protocol, x.stat, x.baseline, x.metric, x.n, x.target, x.base, x.t.statistic, x.t.df, x.t.pvalue, x.stars, x.wilcoxon.statistic, x.wilcoxon.pvalue, x.wilcoxon.method, x.partial ? 1 : 0]),
  );
}

/**
 * Per-backbone table of one protocol: fold mean ± std in % of each τ1 experiment for each
 * metric, the best experiment per backbone and metric as printed in bold (each that ties). A cell that lacks folds the
 * sweep's others have carries a † (and is not ranked with complete ones); σ of one fold is '–'.
 *
 * @example perBackboneMarkdown(summaries, 'cv')
 */
export function perBackboneMarkdown(s: readonly RunSummary[], protocol: string, experiments: readonly Experiment[] = TABLE1_EXPERIMENTS): string {
  const backbones = [...new Set(s.filter((x) => x.protocol === protocol).map((x) => x.backbone))].sort();
  const get = (b: string, e: string) => s.find((x) => x.backbone === b && x.experiment === e && x.protocol === protocol);
  const gaps = sweepGaps(s, experiments).filter((g) => g.protocol === protocol);
  let partial = false, stdOut = false;
  const rows = backbones.map((b) => [
    b,
    ...TABLE_METRICS.flatMap((m) => {
      const vals = experiments.map((e) => {
        const v = get(b, e)?.metrics[m];
        return v && { ...v, partial: gaps.some((g) => g.backbone === b && g.experiment === e) };
      });
      const bold = boldOf(vals);
      return vals.map((v) => {
        if (!v) return '–';
        partial ||= v.partial; stdOut ||= !Number.isFinite(v.std);
        const mean = bold(v) ? `**${pct(v.mean)}**` : pct(v.mean);
        return `${mean} ± ${pct(v.std)}${v.partial ? ' †' : ''}`;
      });
    }),
  ]);
  const md = mdTable(['Backbone', ...TABLE_METRICS.flatMap((m) => experiments.map((e) => `${METRIC_LABEL[m]} ${EXPERIMENT_LABEL[e]}`))], rows);
  const notes = marksNote(partial, false, 'the backbone has fewer folds of this experiment');
  if (stdOut) notes.push('σ – : fewer than 2 folds (or no more folds than ddof), σ undefined.');
  return notes.length ? [md, '', ...notes].join('\n') : md;
}

/** All per-backbone summaries as CSV (every experiment, protocol and metric). */
export function perBackboneCsv(s: readonly RunSummary[]): string {
  const rows: unknown[][] = [];
  for (const x of s) for (const [m, v] of Object.entries(x.metrics)) rows.push([x.backbone, x.experiment, x.protocol, x.folds, m, v.mean, v.std]);
  return toCsv(['backbone', 'experiment', 'protocol', 'folds', 'metric', 'mean', 'std'], rows);
}
