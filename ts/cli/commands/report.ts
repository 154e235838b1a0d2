/** `mdmt report`: its flags and dispatch; the work is ../report.ts (reportRuns). */
import * as path from 'path';
import { Option, type Command } from 'commander';
import { PAPER_SCHEDULE } from '../../train/config';
import { intArg } from '../options';

/** Adds `report` to the CLI. */
export function register(program: Command): void {
  program.command('report')
    .description('Tables 1 and 2 (Markdown, CSV), per-backbone tables and SVG plots from a runs directory')
    .argument('<runs_dir>', 'directory holding run directories (result.json files)')
    .option('--out <dir>', 'report directory (default <runs_dir>/report)')
    .addOption(new Option('--mu <how>', "μ per backbone: mean over folds (paper) or the pooled confusion matrix (authors' t-test script)").choices(['folds', 'pooled']).default('folds'))
    .option('--ddof <n>', 'degrees of freedom of the std across folds (default 0, as the authors)', intArg(0))
    .option('--warmup <n>', `warm-up shaded on learning curves (default: each run's own, else the paper's ${PAPER_SCHEDULE.warmupEpochs})`, intArg(0))
    .action(async (runsDir: string, o: Record<string, unknown>) => {
      const { reportRuns, tablesOf } = await import('../report');
      const r = reportRuns(path.resolve(runsDir), { out: o.out as string | undefined, mu: o.mu as 'folds' | 'pooled', ddof: o.ddof as number | undefined, warmupEpochs: o.warmup as number | undefined });
      for (const w of r.warnings) process.stderr.write(`mdmt report: warning: ${w}\n`);
      process.stdout.write(`${tablesOf(r.markdown)}\n\n${r.results.length} run${r.results.length === 1 ? '' : 's'}; report: ${r.files[0]} (${r.files.length} files, plots in ${path.join(r.out, 'plots')})\n`);
    });
}
