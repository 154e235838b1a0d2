/**
 * What a reader must know before trusting the tables: runs that did not begin from ImageNet
 * (the paper starts every backbone from ImageNet, so those numbers are not comparable), how μ
 * was computed, cells of a partial sweep (Table 1 and per-backbone cells built from fewer
 * backbones or folds than the others; Table 2 cells pairing unequal finished folds), σ left out
 * where a backbone has one fold, and run directories that never finished.
 */
import type { RunSummary, SweepGap, Table2Cell } from './aggregate';
import { EXPERIMENT_LABEL, hasTestMetrics, PROTOCOL_LABEL, type RunResult } from './types';

/** "backbone: CV STL τ1 (3 folds), LOCO MDMT (1 fold)" lines of a set of runs. */
function runList(runs: readonly RunResult[]): string[] {
  const by = new Map<string, Map<string, number>>();
  for (const r of runs) {
    const k = `${PROTOCOL_LABEL[r.protocol]} ${EXPERIMENT_LABEL[r.experiment]}`;
    const m = by.get(r.backbone) ?? new Map<string, number>();
    m.set(k, (m.get(k) ?? 0) + 1);
    by.set(r.backbone, m);
  }
  return [...by].sort(([a], [b]) => a.localeCompare(b))
    .map(([b, m]) => `${b}: ${[...m].map(([k, n]) => `${k} (${n} fold${n === 1 ? '' : 's'})`).join(', ')}`);
}

/**
 * The banner at the top of the report when some runs began from random weights (or did not
 * record their initialisation); empty when every run began from ImageNet.
 *
 * @example pretrainingNotice(results).join('\n')
 */
export function pretrainingNotice(results: readonly RunResult[]): string[] {
  const random = results.filter((r) => r.imagenet === false);
  const unknown = results.filter((r) => r.imagenet === undefined);
  if (!random.length && !unknown.length) return [];
  const out: string[] = [];
  if (random.length) {
    out.push(`> **Random initialisation: not comparable with the paper.** ${random.length} of ${results.length} runs began from random weights, ` +
      'not ImageNet (the paper starts every backbone from ImageNet; give `--pretrained-dir` or `$MDMT_WEIGHTS`, see README):', '>');
    for (const l of runList(random)) out.push(`> - ${l}`);
  }
  if (unknown.length) {
    if (out.length) out.push('>');
    out.push(`> **Initialisation not recorded** for ${unknown.length} of ${results.length} runs (written before mdmt recorded it; treat as random):`, '>');
    for (const l of runList(unknown)) out.push(`> - ${l}`);
  }
  return out;
}

/**
 * How μ (a backbone's value in Tables 1 and 2) was computed, naming any summary that could not
 * be pooled (a fold without its confusion matrix).
 *
 * @example muStatement(summaries, 'folds') // 'μ per backbone = mean of its fold metrics.'
 */
export function muStatement(summaries: readonly RunSummary[], requested: 'folds' | 'pooled' = 'folds'): string {
  if (requested === 'folds') return 'μ per backbone = mean of its fold metrics (not pooled); σ = std of its fold metrics.';
  const fallback = summaries.filter((s) => s.mu !== 'pooled').map((s) => `${s.backbone} ${PROTOCOL_LABEL[s.protocol]} ${EXPERIMENT_LABEL[s.experiment]}`);
  return 'μ per backbone = metric of its confusion matrices pooled over folds (not the mean of folds); σ = std of its fold metrics.' +
    (fallback.length ? ` Mean of folds instead where a fold lacks its confusion matrix: ${fallback.join('; ')}.` : '');
}

/**
 * One warning per protocol × baseline of Table 2 whose cells pair unequal fold sets.
 *
 * @example partialSweepWarnings(table2(summaries)) // ['Table 2 CV, MDMT vs FT: partial sweep (resnet18 MDMT 2 / FT 5 folds, ...)']
 */
export function partialSweepWarnings(cells: readonly Table2Cell[]): string[] {
  const seen = new Map<string, Table2Cell>();
  for (const c of cells) if (c.partial) seen.set(`${c.protocol}|${c.baseline}`, c);
  return [...seen.values()].map((c) => {
    const label = EXPERIMENT_LABEL[c.baseline as keyof typeof EXPERIMENT_LABEL];
    const per = Object.entries(c.folds).map(([b, f]) => `${b} MDMT ${f.target} / ${label} ${f.baseline}`).join(', ');
    return `Table 2 ${PROTOCOL_LABEL[c.protocol as keyof typeof PROTOCOL_LABEL]}, MDMT vs ${label}: partial sweep, finished folds differ (${per}); the marked cells (†) pair unequal evidence`;
  });
}

const folds = (f: readonly string[]) => `fold${f.length === 1 ? '' : 's'} ${f.join(', ')}`;

/**
 * One warning per table × protocol × experiment whose cells lack backbones or folds the
 * sweep's others have (`sweepGaps`), naming what each backbone lacks.
 *
 * @example sweepGapWarnings(sweepGaps(summaries)) // ['Table 1 CV FT: partial sweep, mobilenet_v2 lacks fold 0 (has 1 of 2); ...']
 */
export function sweepGapWarnings(gaps: readonly SweepGap[], table = 'Table 1'): string[] {
  const by = new Map<string, SweepGap[]>();
  for (const g of gaps) {
    const k = `${PROTOCOL_LABEL[g.protocol]} ${EXPERIMENT_LABEL[g.experiment]}`;
    by.set(k, [...(by.get(k) ?? []), g]);
  }
  return [...by].map(([k, gs]) => {
    const what = gs.map((g) => (g.missing.length === g.expected
      ? `${g.backbone} lacks all ${g.expected} folds (no run)`
      : `${g.backbone} lacks ${folds(g.missing)} (has ${g.expected - g.missing.length} of ${g.expected})`));
    return `${table} ${k}: partial sweep, ${what.join('; ')}; the marked cells (†) average unequal evidence and are not ranked above complete ones`;
  });
}

/**
 * The warnings naming backbone × experiment × protocol groups whose σ is undefined (one fold,
 * or no more folds than `ddof`) and left out of σ̄ and of Table 2's σ tests; empty when every
 * group has more than max(1, ddof) folds.
 */
export function undefinedStdWarnings(summaries: readonly RunSummary[], ddof = 0): string[] {
  const name = (s: RunSummary) => `${s.backbone} ${PROTOCOL_LABEL[s.protocol]} ${EXPERIMENT_LABEL[s.experiment]}`;
  const one = summaries.filter((s) => s.folds < 2).map(name);
  // ddof 2 over 2 folds divides by 0: the same '–' and ‡, which said "fewer than 2 folds"
  const few = summaries.filter((s) => s.folds >= 2 && s.folds <= ddof).map((s) => `${name(s)} (${s.folds} folds)`);
  const tail = ': left out of σ̄ (‡) and of any σ test (Table 2)';
  return [
    ...(one.length ? [`σ undefined (a single fold) for ${one.join(', ')}${tail}`] : []),
    ...(few.length ? [`σ undefined (ddof ${ddof} needs more than ${ddof} folds) for ${few.join(', ')}${tail}`] : []),
  ];
}

/**
 * The warning naming the runs that left unreadable images out (data.onBadRecord 'skip'): their
 * metrics are over fewer records than their split files list; empty when none did.
 *
 * @example skippedImagesWarnings(results) // ['3 runs left out unreadable images (…): resnet18: CV MDMT (2 folds)']
 */
export function skippedImagesWarnings(results: readonly RunResult[]): string[] {
  const runs = results.filter((r) => r.skipped?.length);
  if (!runs.length) return [];
  const test = runs.reduce((n, r) => n + r.skipped!.filter((b) => b.part === 'test').length, 0);
  const ids = new Set(runs.flatMap((r) => r.skipped!.map((b) => `${b.task}:${b.id}`))).size;
  const effect = test ? 'so their test metrics cover fewer records than their split files' : 'none of them a test record, so the test metrics are complete; they trained or validated on fewer';
  return [`${runs.length} run${runs.length === 1 ? '' : 's'} left out unreadable images (--skip-bad; ${ids} image${ids === 1 ? '' : 's'}, ${test} test record${test === 1 ? '' : 's'} in all; each run's result.json lists them), ${effect}: ${runList(runs).join('; ')}`];
}

/**
 * The warning naming the runs whose model gave every test record of its main task one class
 * (their confusion matrix has one non-empty column): ACC is then the class's share and MDMT can
 * equal STL exactly; empty when none did.
 *
 * @example oneClassWarnings(results) // ['17 runs predict one class for their whole test set (…): …']
 */
export function oneClassWarnings(results: readonly RunResult[]): string[] {
  const runs = results.filter((r) => {
    const cm = r.cm;
    if (!cm || cm.length < 2) return false;
    const used = cm[0].map((_, j) => cm.reduce((n, row) => n + (row[j] ?? 0), 0)).filter((n) => n > 0).length;
    return used === 1;
  });
  return runs.length ? [`${runs.length} run${runs.length === 1 ? '' : 's'} predict one class for the whole test set (confusion matrix with one non-empty column: too short a training, or too small images), so their ACC is that class's share and F1/G-mean say little: ${runList(runs).join('; ')}`] : [];
}

/**
 * One warning per fold whose test set holds one class only (its confusion matrix has one
 * non-empty row), e.g. a LOCO centre whose films are all MILD: imblearn's weighted G-mean, the
 * paper's metric, is sqrt(ACC · specificity) and that class has no negatives, so every model
 * scores G-mean 0 there, and the 0 enters Table 1, Table 2 and the per-backbone tables (the
 * per-centre tables show it as '–'); empty when every test set holds two classes or more.
 *
 * @example oneClassTestWarnings(results) // ['the test set of LOCO centre D (τ1) holds one class only (MILD): G-mean is 0 there …']
 */
export function oneClassTestWarnings(results: readonly RunResult[]): string[] {
  const by = new Map<string, { runs: number; cls: string }>();
  for (const r of results) {
    const rows = (r.cm ?? []).map((row) => row.reduce((a, b) => a + b, 0));
    const only = rows.flatMap((n, c) => (n > 0 ? [c] : []));
    if (rows.length < 2 || only.length !== 1) continue;
    const tau2 = r.experiment === 'stl_bx';
    const k = `${PROTOCOL_LABEL[r.protocol]} ${r.protocol === 'loco' ? 'centre' : 'fold'} ${r.fold} (${tau2 ? 'τ2' : 'τ1'})`;
    const cls = tau2 ? `bin ${only[0]}` : (['MILD', 'SEVERE'][only[0]!] ?? `class ${only[0]}`);
    by.set(k, { runs: (by.get(k)?.runs ?? 0) + 1, cls });
  }
  return [...by].map(([k, { runs, cls }]) => `the test set of ${k} holds one class only (${cls}): G-mean is 0 there for every model ` +
    `(imblearn's weighted G-mean, the paper's metric, is √(ACC · specificity), and that class has no negatives) and enters the tables as 0 (${runs} run${runs === 1 ? '' : 's'}); ` +
    "the per-centre tables show it as '–', and F1 there is that class's F1");
}

/**
 * One warning per task × fold without test records (a LOCO centre without Brixia scores): the
 * runs there (STL τ2, MDMT's τ2 head, or any run on its main task) have no metrics for it and
 * are in no table of it, so they are named here once, not as random-init or one-fold noise.
 *
 * @example untestedWarnings(results) // ['no τ2 test records in centre github.com: shufflenet_v2_x0_5 LOCO STL τ2, …']
 */
export function untestedWarnings(results: readonly RunResult[]): string[] {
  const by = new Map<string, string[]>();
  const add = (r: RunResult, task: 'τ1' | 'τ2', what: string) => {
    const where = r.protocol === 'loco' ? `centre ${r.fold}` : `CV fold ${r.fold}`;
    const k = `no ${task} test records in ${where}`;
    by.set(k, [...(by.get(k) ?? []), `${r.backbone} ${PROTOCOL_LABEL[r.protocol]} ${what}`]);
  };
  for (const r of results) {
    if (!hasTestMetrics(r)) add(r, r.experiment === 'stl_bx' ? 'τ2' : 'τ1', EXPERIMENT_LABEL[r.experiment]);
    if (r.experiment === 'mdmt' && r.bxMetrics && !Number.isFinite(r.bxMetrics.acc)) add(r, 'τ2', 'MDMT (τ2 head)');
  }
  return [...by].map(([k, runs]) => `${k}: ${runs.join(', ')}; no metrics of that task, left out of its tables`);
}

/** The warning listing run directories that hold a checkpoint or config but no result.json. */
export function unfinishedWarnings(dirs: readonly string[]): string[] {
  return dirs.length ? [`${dirs.length} run${dirs.length === 1 ? '' : 's'} unfinished (no result.json), not in the tables: ${dirs.join(', ')}`] : [];
}

/** The warning naming the settings in which the reported runs differ: they were trained as different sweeps. */
export function mixedSettingsWarnings(spread: readonly string[]): string[] {
  return spread.length ? [`the runs were trained with different settings, and the tables average them as one sweep: ${spread.join('; ')}`] : [];
}
