/** `mdmt experiment`: its flags, the usage checks, and dispatch; the work is ../experiment.ts (runExperimentCommand). */
import type { Command } from 'commander';
import { EXPERIMENTS, PROTOCOLS } from '../../train/config';
import { addTrainFlags, intListArg, listArg, outPath, requireData, SWEEP_FLAGS, trainBase } from '../options';

/** Adds `experiment` to the CLI. */
export function register(program: Command): void {
  const cmd = program.command('experiment')
    .description('run (or resume) a sweep: backbones × experiments × folds, CV and LOCO, one run directory per job')
    .requiredOption('--runs <dir>', 'runs directory (created; resumed when it exists)', outPath)
    .requiredOption('--backbones <list>', 'comma-separated model names', listArg())
    .option('--experiments <list>', `subset of ${EXPERIMENTS.join(',')} (default all)`, listArg(EXPERIMENTS))
    .option('--protocols <list>', 'cv,loco (default both)', listArg(PROTOCOLS))
    .option('--folds <list>', 'CV fold indexes to run (default all)', intListArg)
    .option('--loco-folds <list>', 'LOCO fold indexes (held-out centres, sorted) to run (default all)', intListArg)
    .option('--no-wait', 'do not wait for jobs other processes hold (exit 1 with them pending)')
    .option('--report', 'write the report and print Tables 1 and 2 at the end');
  addTrainFlags(cmd);
  cmd.action(async (o: Record<string, unknown>) => {
    const base = trainBase(o, SWEEP_FLAGS);
    const exps = (o.experiments as string[] | undefined) ?? [...EXPERIMENTS];
    requireData(base, { afc: exps.some((e) => e !== 'stl_bx'), bx: exps.some((e) => e !== 'stl_afc') });
    const { runExperimentCommand } = await import('../experiment');
    await runExperimentCommand(o, base);
  });
}
