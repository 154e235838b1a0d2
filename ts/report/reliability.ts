/**
 * Calibration in the report: a reliability diagram per run (test set, 15 bins of the
 * top-label confidence, accuracy per bin before and after temperature scaling, the diagonal
 * of perfect calibration) and a table of temperature, ECE, Brier score and NLL before → after.
 *
 *   fs.writeFileSync('rel.svg', reliabilitySvg(run));  calibrationMarkdown(results)
 */
import { softmaxT, TEMPERATURE_CHECK, TEMPERATURE_RANGE } from '../predict/calibration';
import { reliabilityBins, type ReliabilityBin } from '../train/metrics';
import { OKABE_ITO as C, legend, panel, Svg } from './svg';
import { mdTable, toCsv } from './tables';
import { EXPERIMENT_LABEL, PROTOCOL_LABEL, type RunResult, type TaskCalibration } from './types';

/** The head a run is judged on: τ1, or τ2 for STL τ2. */
export const mainHead = (r: RunResult): 'afc' | 'bx' => (r.experiment === 'stl_bx' ? 'bx' : 'afc');

/** Test-set reliability bins of a run's main head at temperature T (1 = uncalibrated). */
export function runBins(r: RunResult, T: number, bins = 15): ReliabilityBin[] | undefined {
  const p = r.predictions?.[mainHead(r)];
  if (!p?.yTrue.length) return undefined;
  return reliabilityBins(p.logits.map((z) => softmaxT(z, T)), p.yTrue, bins);
}

/** A head whose fitted temperature failed its cross-validated check, so T = 1 was applied. */
const kept = (c: TaskCalibration | undefined) => c?.check !== undefined && c.check.decision !== 'applied' && c.fitted !== undefined;

const runLabel = (r: RunResult) => `${r.backbone} · ${EXPERIMENT_LABEL[r.experiment]} · ${PROTOCOL_LABEL[r.protocol]} fold ${r.fold}`;

/**
 * Reliability diagram of one run as SVG (empty string when the run stored no test outputs).
 *
 * @example fs.writeFileSync('reliability.svg', reliabilitySvg(run))
 */
export function reliabilitySvg(r: RunResult): string {
  const cal = r.calibration?.[mainHead(r)];
  const T = cal?.temperature ?? 1;
  const before = runBins(r, 1), after = runBins(r, T);
  if (!before || !after) return '';
  const L = 80, top = 96, PW = 420, PH = 420;
  const svg = new Svg(L + PW + 230, top + PH + 70);
  svg.text(L, 30, `Reliability — ${runLabel(r)}`, { 'font-size': 17, 'font-weight': 'bold' });
  const s = cal?.test;
  const how = kept(cal) ? `kept at 1: the fit ${cal!.fitted!.toFixed(3)} failed its check (${cal!.check!.decision})` : 'fitted on validation';
  svg.text(L, 54, `test set, ${before.reduce((a, b) => a + b.n, 0)} samples, 15 bins · T = ${T.toFixed(3)} (${how})` +
    (s ? ` · ECE ${(100 * s.before.ece).toFixed(1)}% → ${(100 * s.after.ece).toFixed(1)}%` : ''), { 'font-size': 13, fill: '#444' });
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const { sx, sy } = panel(svg, { x: L, y: top, w: PW, h: PH, xTicks: ticks, yTicks: ticks, xLabel: 'confidence (top-label probability)', yLabel: 'accuracy', xTickLabels: true });
  svg.line(sx(0), sy(0), sx(1), sy(1), { stroke: '#888', 'stroke-dasharray': '5 4' });
  const bar = (bins: ReliabilityBin[], color: string, shift: number) => {
    for (const b of bins) {
      if (!b.n) continue;
      const w = (sx(b.hi) - sx(b.lo)) / 2;
      const x = sx(b.lo) + shift * w;
      svg.rect(x + 0.5, sy(b.acc), w - 1, Math.max(0, sy(0) - sy(b.acc)), { fill: color, 'fill-opacity': 0.8, stroke: '#333', 'stroke-width': 0.4 });
    }
  };
  bar(before, C.vermillion, 0);
  bar(after, C.blue, 1);
  legend(svg, L + PW + 24, top + 14, [
    { label: 'before (T = 1)', color: C.vermillion, kind: 'box' },
    { label: `after (T = ${T.toFixed(2)})`, color: C.blue, kind: 'box' },
    { label: 'perfect calibration', color: '#888', dash: '5 4' },
  ]);
  return svg.toString();
}

const f = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));

/**
 * The calibration table (test set; T fitted on validation), one row per run with stored
 * calibration, as Markdown and CSV.
 *
 * @example calibrationTables(results).markdown
 */
export function calibrationTables(results: readonly RunResult[]): { markdown: string; csv: string } | undefined {
  const runs = results.filter((r) => r.calibration?.[mainHead(r)]?.test);
  if (!runs.length) return undefined;
  const rows = runs.map((r) => ({ r, c: r.calibration![mainHead(r)]! }));
  // a fit that stops at the search range tells that validation did not determine T
  const atBound = (T: number) => T <= TEMPERATURE_RANGE.min * 1.0001 || T >= TEMPERATURE_RANGE.max * 0.9999;
  const shown = (c: TaskCalibration) => (kept(c) ? [c.temperature, c.fitted!] : [c.temperature]);
  const cell = (c: TaskCalibration) => f(c.temperature, 2) + (atBound(c.temperature) ? ' ‡' : '') +
    (kept(c) ? ` § (fit ${f(c.fitted, 2)}${atBound(c.fitted!) ? ' ‡' : ''})` : '');
  const notes = [
    rows.some(({ c }) => shown(c).some(atBound))
      ? `‡ T at the end of its search range [${TEMPERATURE_RANGE.min}, ${TEMPERATURE_RANGE.max}]: the validation set did not determine it (too few samples, a model right on all of them, or one no better than chance).` : '',
    rows.some(({ c }) => kept(c))
      ? `§ T kept at 1, the fitted T in parentheses: it did not lower the held-out NLL of a ${TEMPERATURE_CHECK.folds}-fold cross-validation inside the validation split by more than one standard error, or the split had fewer than ${TEMPERATURE_CHECK.minSamples} samples.` : '',
  ].filter(Boolean);
  const note = notes.length ? `\n\n${notes.join('\n\n')}` : '';
  const markdown = mdTable(
    ['Run', 'T', 'ECE before → after (%)', 'Brier before → after', 'NLL before → after', 'n'],
    rows.map(({ r, c }) => [runLabel(r), cell(c),
      `${f(100 * c.test!.before.ece, 1)} → ${f(100 * c.test!.after.ece, 1)}`,
      `${f(c.test!.before.brier)} → ${f(c.test!.after.brier)}`,
      `${f(c.test!.before.nll)} → ${f(c.test!.after.nll)}`, String(c.test!.before.n)]),
  ) + note;
  const csv = toCsv(
    ['backbone', 'experiment', 'protocol', 'fold', 'head', 'temperature', 'temperature_fitted', 'check', 'split', 'n', 'nll_before', 'nll_after', 'ece_before', 'ece_after', 'brier_before', 'brier_after'],
    rows.flatMap(({ r, c }) => (['val', 'test'] as const).filter((s) => c[s]).map((s) => {
      const x = c[s]!;
      return [r.backbone, r.experiment, r.protocol, r.fold, mainHead(r), c.temperature, c.fitted ?? '', c.check?.decision ?? '', s, x.before.n, x.before.nll, x.after.nll, x.before.ece, x.after.ece, x.before.brier, x.after.brier];
    })),
  );
  return { markdown, csv };
}
