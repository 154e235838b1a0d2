/**
 * What a reader must know before trusting the tables: runs that did not begin from ImageNet
 * (the paper starts every backbone from ImageNet, so those numbers are not comparable), how μ
 * was computed, and Table 2 cells of a partial sweep (backbones with unequal finished folds).
 */
import type { RunSummary, Table2Cell } from './aggregate';
import { EXPERIMENT_LABEL, PROTOCOL_LABEL, type RunResult } from './types';

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
