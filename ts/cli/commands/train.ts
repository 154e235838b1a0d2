/** `mdmt train`: its flags, the usage checks, and dispatch; the work is ../train.ts (runTrainCommand). */
import { Option, type Command } from 'commander';
import { EXPERIMENTS, PROTOCOLS } from '../../train/config';
import { addTrainFlags, existingPath, intArg, requireData, trainBase } from '../options';

/** Adds `train` to the CLI. */
export function register(program: Command): void {
  const cmd = program.command('train')
    .description('train one model (backbone × experiment × fold) into a run directory; resumes when interrupted')
    .requiredOption('--backbone <name>', 'a registered model, e.g. resnet18, shufflenet_v2_x0_5 (a wrong name lists them all)')
    .addOption(new Option('--experiment <name>', 'STL τ1, STL τ2, FT (τ2 → τ1) or MDMT').choices([...EXPERIMENTS]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'run directory')
    .addOption(new Option('--protocol <p>', '5-fold CV or leave-one-centre-out').choices([...PROTOCOLS]).default('cv'))
    .option('--fold <i>', 'fold index (default 0)', intArg())
    .option('--splits-dir <dir>', 'split files (default <out>/splits)')
    .option('--init-stl-afc <file>', 'MDMT: best.safetensors of STL τ1 of the same fold', existingPath)
    .option('--init-stl-bx <file>', 'FT and MDMT: best.safetensors of STL τ2 of the same fold', existingPath)
    .option('--json', 'print the result as JSON');
  addTrainFlags(cmd);
  cmd.action(async (o: Record<string, unknown>) => {
    const base = trainBase(o);
    const e = o.experiment as string;
    requireData(base, { afc: e !== 'stl_bx', bx: e === 'stl_bx' || e === 'mdmt' });
    const { runTrainCommand } = await import('../train');
    await runTrainCommand(o, base);
  });
}
