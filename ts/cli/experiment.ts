/**
 * `mdmt experiment`: the paper's sweep, backbones × experiments × folds (CV and LOCO), into
 * a runs directory; STL runs first; killed at any point, the same command continues where it
 * stopped (finished jobs are skipped, an interrupted job resumes from its checkpoint).
 *
 *   mdmt experiment --runs runs --backbones resnet18,densenet121 --data-afc d/AIforCOVID --data-bx d/BRIXIA
 *   mdmt report runs
 */
import * as path from 'path';
import { Command } from 'commander';
import { EXPERIMENTS, PROTOCOLS, type ExperimentName, type Protocol } from '../train/config';
import { experiment, type ExperimentConfig } from '../train/experiment';
import { progressHooks, SILENT } from '../train/progress';
import { addTrainFlags, intListArg, listArg, requireData, trainBase } from './options';
import { reportRuns, tablesOf } from './report';

export function register(program: Command): void {
  const cmd = program.command('experiment')
    .description('run (or resume) a sweep: backbones × experiments × folds, CV and LOCO, one run directory per job')
    .requiredOption('--runs <dir>', 'runs directory (created; resumed when it exists)')
    .requiredOption('--backbones <list>', 'comma-separated model names', listArg())
    .option('--experiments <list>', `subset of ${EXPERIMENTS.join(',')} (default all)`, listArg(EXPERIMENTS))
    .option('--protocols <list>', 'cv,loco (default both)', listArg(PROTOCOLS))
    .option('--folds <list>', 'CV fold indexes to run (default all)', intListArg)
    .option('--loco-folds <list>', 'LOCO fold indexes (held-out centres, sorted) to run (default all)', intListArg)
    .option('--no-wait', 'do not wait for jobs other processes hold (exit 1 with them pending)')
    .option('--report', 'write the report and print Tables 1 and 2 at the end');
  addTrainFlags(cmd);
  cmd.action(async (o: Record<string, unknown>) => {
    const base = trainBase(o);
    const exps = (o.experiments as string[] | undefined) ?? [...EXPERIMENTS];
    requireData(base, { afc: exps.some((e) => e !== 'stl_bx'), bx: exps.some((e) => e !== 'stl_afc') });
    const cfg: ExperimentConfig = {
      runsDir: path.resolve(o.runs as string),
      backbones: o.backbones as string[],
      experiments: o.experiments as ExperimentName[] | undefined,
      protocols: o.protocols as Protocol[] | undefined,
      folds: { cv: o.folds as number[] | undefined, loco: o.locoFolds as number[] | undefined },
      base,
      hooksFor: (j, at) => (o.progress !== false ? progressHooks({ label: `[${at.index}/${at.total}] ${j.key}` }) : SILENT),
      log: (m) => process.stderr.write(`mdmt experiment: ${m}\n`),
      waitForOthers: o.wait !== false,
    };
    const out = await experiment(cfg);
    process.stdout.write(`${out.trained.length} jobs trained, ${out.skipped.length} already finished, ${out.failed.length} failed, ${out.pending.length} pending; ${out.results.length} results in ${cfg.runsDir}\n`);
    for (const f of out.failed) process.stderr.write(`mdmt experiment: ${f.key} failed: ${f.error}\n`);
    if (o.report && out.results.length) {
      const r = reportRuns(cfg.runsDir);
      for (const w of r.warnings) process.stderr.write(`mdmt report: warning: ${w}\n`);
      process.stdout.write(`\n${tablesOf(r.markdown)}\n\nreport: ${r.files[0]}\n`);
    }
    if (out.pending.length || out.failed.length) process.exitCode = 1;
  });
}
