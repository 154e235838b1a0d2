/**
 * `mdmt experiment`: the paper's sweep, backbones × experiments × folds (CV and LOCO), into
 * a runs directory; STL runs first; killed at any point, the same command continues where it
 * stopped (finished jobs are skipped, an interrupted job resumes from its checkpoint).
 *
 *   mdmt experiment --runs runs --backbones resnet18,densenet121 --data-afc d/AIforCOVID --data-bx d/BRIXIA
 *   mdmt report runs
 */
import * as path from 'path';
import type { ExperimentName, Protocol } from '../train/config';
import type { WithData } from './options';
import { experiment, type ExperimentConfig } from '../train/experiment';
import { logHooks, onceAcrossJobs, progressHooks } from '../train/progress';
import { reportRuns, tablesOf } from './report';

/** The command's work, after commands/experiment.ts parsed the flags into `base` (trainBase) and checked the data. */
export async function runExperimentCommand(o: Record<string, unknown>, base: WithData): Promise<void> {
  // the data summary and the random-initialisation notice once, not once per job
  const once = onceAcrossJobs();
  const cfg: ExperimentConfig = {
    runsDir: path.resolve(o.runs as string),
    backbones: o.backbones as string[],
    experiments: o.experiments as ExperimentName[] | undefined,
    protocols: o.protocols as Protocol[] | undefined,
    folds: { cv: o.folds as number[] | undefined, loco: o.locoFolds as number[] | undefined },
    base,
    hooksFor: (j, at) => once.wrap(o.progress !== false ? progressHooks({ label: `[${at.index}/${at.total}] ${j.key}` }) : logHooks(process.stderr, `[${at.index}/${at.total}] ${j.key}: `)),
    log: once.log((m) => process.stderr.write(`mdmt experiment: ${m}\n`)),
    waitForOthers: o.wait !== false,
  };
  const out = await experiment(cfg);
  process.stdout.write(`${out.trained.length} job${out.trained.length === 1 ? '' : 's'} trained, ${out.skipped.length} already finished, ${out.byOthers.length ? `${out.byOthers.length} finished by other processes, ` : ''}${out.failed.length} failed, ${out.pending.length} pending; ${out.results.length} results in ${cfg.runsDir}\n`);
  for (const f of out.failed) process.stderr.write(`mdmt experiment: ${f.key} failed: ${f.error}\n`);
  if (o.report && out.results.length) {
    const r = reportRuns(cfg.runsDir);
    for (const w of r.warnings) process.stderr.write(`mdmt report: warning: ${w}\n`);
    process.stdout.write(`\n${tablesOf(r.markdown)}\n\nreport: ${r.files[0]}\n`);
  }
  if (out.pending.length || out.failed.length) process.exitCode = 1;
}
