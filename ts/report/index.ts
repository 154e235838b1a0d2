/**
 * `writeReport(results, outDir)`: Tables 1 and 2 (Markdown + CSV), per-backbone tables,
 * learning curves per run and per-backbone bar charts (SVG), and a `report.md` that
 * links them. Pure TypeScript, synchronous, no engine needed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDir, makeDirs } from '../dirs';
import { checkOptions, isPlain, kindOf, MdmtError, show } from '../errors';
import { atomicWriteFile } from '../train/checkpoint';
import { checkRunResult } from '../train/result_file';
import { PROTOCOLS, summarizeRuns, summarizeTau2, sweepGaps, table1, table2, type RunSummary } from './aggregate';
import { mixedSettingsWarnings, muStatement, oneClassTestWarnings, oneClassWarnings, partialSweepWarnings, pretrainingNotice, skippedImagesWarnings, sweepGapWarnings, undefinedStdWarnings, unfinishedWarnings, untestedWarnings } from './notes';
import { backboneBarsSvg, learningCurveSvg, runFileNamer, runLink } from './plots';
import { perBackboneCsv, perBackboneMarkdown, table1Csv, table1Markdown, table2Csv, table2Markdown } from './tables';
import { trustSections } from './trust';
import { hasTestMetrics, PROTOCOL_LABEL, type ReportOptions, type RunResult } from './types';

export * from './types';
export { summarizeRuns, summarizeTau2, sweepGaps, table1, table2, type RunSummary, type SweepGap, type Table1, type Table1Cell, type Table2Cell } from './aggregate';
export { mixedSettingsWarnings, muStatement, oneClassTestWarnings, oneClassWarnings, partialSweepWarnings, pretrainingNotice, skippedImagesWarnings, sweepGapWarnings, undefinedStdWarnings, unfinishedWarnings, untestedWarnings } from './notes';
export { backboneBarsSvg, learningCurveSvg } from './plots';
export { svgToPng } from './png';
export { perBackboneCsv, perBackboneMarkdown, table1Csv, table1Markdown, table2Csv, table2Markdown, toCsv } from './tables';
export { calibrationTables, reliabilitySvg } from './reliability';
export { centreRows, intervalRows, uncertaintyTables, type CentreRow, type IntervalRow } from './uncertainty';

export interface Report {
  /** Contents of report.md. */
  markdown: string;
  /** Absolute paths of every file written, report.md first. */
  files: string[];
  /** What makes the tables less than they look: random-init runs, partial sweeps, σ of one fold,
   *  unfinished runs, folds without test records of a task (also in report.md). */
  warnings: string[];
}

/** The names writeReport gives its files (relative, '/'-separated), and svgToPng's copies of its figures. */
const REPORT_FILE = /^(report\.md|table[12]\.(md|csv)|table_tau2\.md|per_backbone(_(cv|loco|tau2))?\.(md|csv)|per_centre(_(cv|loco))?\.(md|csv)|(calibration|intervals)\.(md|csv)|plots\/bars_(cv|loco)\.(svg|png)|plots\/(curves|reliability)\/[A-Za-z0-9._-]+\.(svg|png))$/;

/**
 * Removes the files of an earlier report in `outDir` that this one did not write (`written`,
 * absolute): a report written again after runs were deleted kept per_backbone_loco.md and the
 * curves of the deleted runs beside the new tables, as if they were part of it. Files of other
 * names (the user's own) stay.
 */
function removeStaleReportFiles(outDir: string, written: readonly string[]): void {
  const keep = new Set(written);
  // the folders the report writes in, not a walk of outDir (it may be the runs directory, with its image cache)
  for (const dir of ['', 'plots', 'plots/curves', 'plots/reliability']) {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(path.join(outDir, dir), { withFileTypes: true });
    } catch {
      continue; // not there: nothing of an earlier report
    }
    for (const e of names) {
      const p = path.resolve(outDir, dir, e.name);
      if (e.isFile() && REPORT_FILE.test(dir ? `${dir}/${e.name}` : e.name) && !keep.has(p)) fs.rmSync(p, { force: true });
    }
  }
}

/** ReportOptions' keys: another one (`ddofs`, `pooled`) would be ignored. */
const REPORT_KEYS = { ddof: true, mu: true, warmupEpochs: true, curves: true, title: true, unfinished: true, mixedSettings: true, bootstrap: true } as const;

/**
 * Each option's type and range, before anything is written: { mu: 'pool' } reported the fold
 * mean and { ddof: -1 } divided σ by n + 1, { curves: 'no' } drew the curves, a misspelt
 * bootstrap key was ignored, { unfinished: 'x' } was a TypeError and { bootstrap: { resamples: 0 } }
 * a plain Error, both after half the report was written.
 */
function checkReportOptionValues(opts: ReportOptions): void {
  const bad = (msg: string) => new MdmtError('ECONFIG', 'writeReport', msg);
  if (opts.mu !== undefined && opts.mu !== 'folds' && opts.mu !== 'pooled') throw bad(`mu must be 'folds' or 'pooled', got ${show(opts.mu)}`);
  if (opts.ddof !== undefined && !(Number.isInteger(opts.ddof) && opts.ddof >= 0)) throw bad(`ddof must be an integer ≥ 0, got ${show(opts.ddof)}`);
  if (opts.title !== undefined && typeof opts.title !== 'string') throw bad(`title must be a string, got ${show(opts.title)}`);
  if (opts.curves !== undefined && typeof opts.curves !== 'boolean') throw bad(`curves must be true or false, got ${show(opts.curves)}`);
  if (opts.warmupEpochs !== undefined && !(Number.isInteger(opts.warmupEpochs) && opts.warmupEpochs >= 0)) throw bad(`warmupEpochs must be an integer ≥ 0, got ${show(opts.warmupEpochs)}`);
  for (const k of ['unfinished', 'mixedSettings'] as const) {
    const v: unknown = opts[k];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) throw bad(`${k} must be an array of strings, got ${show(v)}`);
  }
  const b = opts.bootstrap;
  checkOptions('writeReport', b, { resamples: true, seed: true }, 'options.bootstrap', 'ECONFIG');
  if (b?.resamples !== undefined && !(Number.isInteger(b.resamples) && b.resamples >= 1)) throw bad(`bootstrap.resamples must be an integer ≥ 1, got ${show(b.resamples)}`);
  if (b?.seed !== undefined && !Number.isInteger(b.seed)) throw bad(`bootstrap.seed must be an integer, got ${show(b.seed)}`);
}

/**
 * Writes the report of a set of runs into `outDir` (created if missing):
 * `report.md`, `table1.{md,csv}`, `table2.{md,csv}`, `per_backbone_{cv,loco}.md`,
 * `per_backbone.csv`, `plots/bars_{cv,loco}.svg` and `plots/curves/<backbone>_<experiment>_<protocol>_<fold>.svg`.
 *
 * @example
 * const { markdown, files } = writeReport(results, 'runs/report');
 * console.log(markdown);
 */
export function writeReport(results: readonly RunResult[], outDir: string, opts: ReportOptions = {}): Report {
  // '' resolves to the working directory, which then received every file of the report
  if (typeof outDir !== 'string') throw new MdmtError('ECONFIG', 'writeReport', `outDir must be the path of the report directory, got ${kindOf(outDir)}`);
  if (!outDir.trim()) throw new MdmtError('ECONFIG', 'writeReport', `outDir ${JSON.stringify(outDir)} is empty: name the report directory`);
  // unknown keys first (a misspelt option was ignored), each value after the results (checkReportOptionValues)
  checkOptions('writeReport', opts, REPORT_KEYS, 'options', 'ECONFIG');
  if (!Array.isArray(results as unknown)) throw new MdmtError('ECONFIG', 'writeReport', `results must be an array (collectResults' result), got ${kindOf(results)}`);
  // the checks collectResults makes of each result.json: [{}] wrote a "0 runs" report, [null] was a
  // TypeError, and an accuracy of 1.7 or an unknown experiment went into the tables unchecked
  results.forEach((r, i) => {
    const bad = (what: string) => new MdmtError('ECONFIG', 'writeReport', `${what} (not a run's result as train() and collectResults() give it)`);
    if (!isPlain(r)) throw bad(`results[${i}] is ${show(r)}, not a run's result`);
    checkRunResult(r, bad, `results[${i}]`);
  });
  checkReportOptionValues(opts);
  // a file in the way is ECONFIG naming outDir, not a raw ENOTDIR from a nested mkdir
  ensureDir(outDir, 'writeReport', 'outDir');
  makeDirs(path.join(outDir, 'plots', 'curves'));
  const files: string[] = [];
  // each file through a temporary file and a rename: a write cut by a full disk left a truncated
  // table under its name and failed with a bare "ENOSPC: no space left on device, write", naming no file
  const write = (rel: string, text: string) => { const p = path.resolve(outDir, rel); makeDirs(path.dirname(p)); atomicWriteFile(p, text); files.push(p); };

  const summaries: RunSummary[] = summarizeRuns(results, opts);
  const t1 = table1(summaries);
  const t2 = table2(summaries);
  const t1md = table1Markdown(t1), t2md = table2Markdown(t2);
  write('table1.md', t1md + '\n'); write('table1.csv', table1Csv(t1));
  write('table2.md', t2md + '\n'); write('table2.csv', table2Csv(t2));
  write('per_backbone.csv', perBackboneCsv(summaries));

  const protocols = PROTOCOLS.filter((p) => summaries.some((s) => s.protocol === p));
  const sections: string[] = [];
  for (const p of protocols) {
    const md = perBackboneMarkdown(summaries, p);
    write(`per_backbone_${p}.md`, md + '\n');
    write(`plots/bars_${p}.svg`, backboneBarsSvg(summaries, p));
    sections.push(`### ${PROTOCOL_LABEL[p]}\n\n![per-backbone ${p}](plots/bars_${p}.svg)\n\n${md}`);
  }
  // τ2 (BRIXIA): STL τ2 and, where recorded, MDMT's τ2 head.
  const tau2 = summarizeTau2(results, opts);
  const tau2Gaps = sweepGapWarnings(sweepGaps(tau2, ['stl_bx', 'mdmt']), 'τ2 table');
  let tau2Section = '';
  if (tau2.length) {
    const exps = (['stl_bx', 'mdmt'] as const).filter((e) => tau2.some((s) => s.experiment === e));
    const t = table1Markdown(table1(tau2, exps), exps);
    write('table_tau2.md', t + '\n');
    write('per_backbone_tau2.csv', perBackboneCsv(tau2));
    const per = protocols.filter((p) => tau2.some((s) => s.protocol === p))
      .map((p) => `### τ2 per backbone, ${PROTOCOL_LABEL[p]}\n\n${perBackboneMarkdown(tau2, p, exps)}`);
    // summarizeTau2 always averages the folds (MDMT stores no τ2 confusion matrix): say so, as --mu pooled's statement above is τ1's
    const tau2Mu = `μ per backbone = mean of its fold metrics (τ2 is never pooled: MDMT runs store no τ2 confusion matrix); σ = std of its fold metrics (ddof ${opts.ddof ?? 0}).`;
    tau2Section = ['## τ2 (BRIXIA, 4 classes)', '', tau2Mu, '', ...(tau2Gaps.length ? [...tau2Gaps.map((w) => `> **Warning:** ${w}.`), ''] : []), t, '', per.join('\n\n'), ''].join('\n');
  }
  const trust = trustSections(results, write, { bootstrap: opts.bootstrap });
  const curves: string[] = [];
  if (opts.curves !== false) {
    const name = runFileNamer();
    for (const r of results) {
      if (!r.history?.length) continue;
      const rel = `plots/curves/${name(r)}.svg`;
      write(rel, learningCurveSvg(r, { warmupEpochs: opts.warmupEpochs }));
      curves.push(`- ${runLink(r, rel)}`);
    }
  }
  const backbones = new Set(summaries.map((s) => s.backbone)).size;
  const ddof = opts.ddof ?? 0;
  // a run without test records of its task is in no table: named once (untestedWarnings), not counted as random-init
  const tested = results.filter(hasTestMetrics);
  const notice = pretrainingNotice(tested);
  const partial = partialSweepWarnings(t2);
  // what Table 1, the per-backbone and τ2 tables are built from, before their numbers
  const gaps = [...mixedSettingsWarnings(opts.mixedSettings ?? []), ...unfinishedWarnings(opts.unfinished ?? []), ...skippedImagesWarnings(results), ...untestedWarnings(results), ...oneClassTestWarnings(results), ...oneClassWarnings(results), ...sweepGapWarnings(sweepGaps(summaries)), ...undefinedStdWarnings(summaries, opts.ddof)];
  const random = tested.filter((r) => r.imagenet !== true).length;
  const warnings = [...(random ? [`${random} of ${tested.length} runs did not begin from ImageNet (random or unrecorded initialisation): not comparable with the paper`] : []), ...gaps, ...partial, ...tau2Gaps];
  const mu = muStatement(summaries, opts.mu);
  const markdown = [
    `# ${opts.title ?? 'MDMT report'}`,
    '',
    ...(notice.length ? [...notice, ''] : []),
    `${tested.length} run${tested.length === 1 ? '' : 's'}, ${backbones} backbone${backbones === 1 ? '' : 's'}. Metrics on τ1 (AIforCOVID prognosis), in %. ${mu.replace(/\.$/, '')} (ddof ${ddof}).`,
    '',
    // bold and GM were used without a word on what they meant
    'ACC: accuracy, F1: F1 weighted by class support, GM: G-mean (√ of weighted sensitivity × weighted specificity). ' +
      'Bold: the best μ̄ of each column of Table 1, and the best experiment per backbone and metric in the per-backbone tables, as printed (every cell that ties for it).',
    '',
    '## Table 1 — average over backbones (μ̄ ± σ̄)',
    '',
    ...(gaps.length ? [...gaps.map((w) => `> **Warning:** ${w}.`), ''] : []),
    t1md,
    '',
    '## Table 2 — MDMT vs STL τ1 and vs FT',
    '',
    `Paired across backbones on their μ and σ. ${mu}`,
    '',
    ...(partial.length ? [...partial.map((w) => `> **Warning:** ${w}.`), ''] : []),
    t2md,
    '',
    '## Per backbone',
    '',
    sections.join('\n\n'),
    '',
    tau2Section,
    trust,
    ...(curves.length ? ['', '## Learning curves', '', curves.join('\n')] : []),
    '',
  ].join('\n');
  const reportPath = path.resolve(outDir, 'report.md');
  atomicWriteFile(reportPath, markdown);
  removeStaleReportFiles(outDir, [reportPath, ...files]);
  return { markdown, files: [reportPath, ...files], warnings };
}
