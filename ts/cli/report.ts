/**
 * `mdmt report RUNS_DIR`: reads every result.json under RUNS_DIR and writes the report
 * (Tables 1 and 2 as Markdown + CSV, per-backbone tables, SVG plots) with ts/report; prints
 * Tables 1 and 2.
 *
 *   mdmt report runs --out runs/report
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { ensureDir } from '../dirs';
import { MdmtError } from '../errors';
import { writeReport } from '../report';
import { PAPER_SCHEDULE } from '../train/config';
import { collectResults } from '../train/experiment';
import { intArg } from './options';

/** Writes the report of a runs directory and returns its report.md text and files. */
export function reportRuns(runsDir: string, o: { out?: string; mu?: 'folds' | 'pooled'; ddof?: number; warmupEpochs?: number } = {}) {
  if (!fs.existsSync(runsDir)) throw new MdmtError('EIO', 'report', `runs directory '${runsDir}' does not exist`);
  if (!fs.statSync(runsDir).isDirectory()) throw new MdmtError('ECONFIG', 'report', `runs directory '${runsDir}' is a file, not a directory`);
  const results = collectResults(runsDir);
  if (!results.length) throw new MdmtError('EDATA', 'report', `no finished runs (result.json) under '${runsDir}'`);
  // a file in the way is a usage error naming --out, not a raw ENOTDIR from deep in the writer
  const out = ensureDir(path.resolve(o.out ?? path.join(runsDir, 'report')), 'report', '--out');
  const rep = writeReport(results, out, { mu: o.mu, ddof: o.ddof, warmupEpochs: o.warmupEpochs });
  return { ...rep, results, out };
}

/** The Table 1 and Table 2 sections of report.md. */
export function tablesOf(markdown: string): string {
  const i = markdown.indexOf('## Table 1');
  const j = markdown.indexOf('## Per backbone');
  return markdown.slice(i < 0 ? 0 : i, j < 0 ? undefined : j).trim();
}

export function register(program: Command): void {
  program.command('report')
    .description('Tables 1 and 2 (Markdown, CSV), per-backbone tables and SVG plots from a runs directory')
    .argument('<runs_dir>', 'directory holding run directories (result.json files)')
    .option('--out <dir>', 'report directory (default <runs_dir>/report)')
    .addOption(new Option('--mu <how>', "μ per backbone: mean over folds (paper) or the pooled confusion matrix (authors' t-test script)").choices(['folds', 'pooled']).default('folds'))
    .option('--ddof <n>', 'degrees of freedom of the std across folds (default 0, as the authors)', intArg(0))
    .option('--warmup <n>', `warm-up shaded on learning curves (default: each run's own, else the paper's ${PAPER_SCHEDULE.warmupEpochs})`, intArg(0))
    .action((runsDir: string, o: Record<string, unknown>) => {
      const r = reportRuns(path.resolve(runsDir), { out: o.out as string | undefined, mu: o.mu as 'folds' | 'pooled', ddof: o.ddof as number | undefined, warmupEpochs: o.warmup as number | undefined });
      for (const w of r.warnings) process.stderr.write(`mdmt report: warning: ${w}\n`);
      process.stdout.write(`${tablesOf(r.markdown)}\n\n${r.results.length} runs; report: ${r.files[0]} (${r.files.length} files, plots in ${path.join(r.out, 'plots')})\n`);
    });
}
