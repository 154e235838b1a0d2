/** `mdmt train`: its flags, the usage checks, and dispatch; the work is ../train.ts (runTrainCommand). */
import { Option, type Command } from 'commander';
import { MdmtError } from '../../errors';
import { EXPERIMENTS, PROTOCOLS } from '../../train/config';
import { addTrainFlags, existingPath, intArg, outPath, requireData, trainBase } from '../options';

/** Adds `train` to the CLI. */
export function register(program: Command): void {
  const cmd = program.command('train')
    .description('train one model (backbone × experiment × fold) into a run directory; resumes when interrupted')
    .requiredOption('--backbone <name>', 'a registered model, e.g. resnet18, shufflenet_v2_x0_5 (a wrong name lists them all)')
    .addOption(new Option('--experiment <name>', 'STL τ1, STL τ2, FT (τ2 → τ1) or MDMT').choices([...EXPERIMENTS]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'run directory', outPath)
    .addOption(new Option('--protocol <p>', '5-fold CV or leave-one-centre-out').choices([...PROTOCOLS]).default('cv'))
    .option('--fold <i>', 'fold index (default 0)', intArg())
    .option('--splits-dir <dir>', 'split files (default <out>/splits)', outPath)
    .option('--init-stl-afc <file>', 'MDMT: best.safetensors of STL τ1 of the same fold', existingPath)
    .option('--init-stl-bx <file>', 'FT and MDMT: best.safetensors of STL τ2 of the same fold', existingPath)
    .option('--json', 'print the result as JSON');
  addTrainFlags(cmd);
  cmd.action(async (o: Record<string, unknown>) => {
    const e = o.experiment as string;
    // an init file the experiment does not start from would be ignored
    const unused = [['--init-stl-afc', o.initStlAfc !== undefined && e !== 'mdmt'], ['--init-stl-bx', o.initStlBx !== undefined && e !== 'ft' && e !== 'mdmt']].filter(([, u]) => u).map(([f]) => f);
    if (unused.length)
      throw new MdmtError('ECONFIG', 'train', `${unused.join(', ')} ${unused.length > 1 ? 'are' : 'is'} not used by --experiment ${e} (${e === 'ft' ? 'ft starts from --init-stl-bx alone' : 'an STL run starts from its ImageNet or random weights'})`);
    // flags only MDMT batches or LOCO folds read (the presets may still set them: only flags are refused)
    const idle = [['--afc-loss', o.afcLoss !== undefined && e !== 'mdmt', 'for --experiment mdmt (STL τ1 and FT train τ1 with cross-entropy)'],
      ['--afc-fraction', o.afcFraction !== undefined && e !== 'mdmt', 'for --experiment mdmt (its mixed batches)'],
      ['--bx-loco-fold', o.bxLocoFold !== undefined && o.protocol !== 'loco', 'for --protocol loco']].filter(([, u]) => u);
    if (idle.length) throw new MdmtError('ECONFIG', 'train', idle.map(([f, , why]) => `${f as string} is ${why as string}`).join('; ') + `: it would have no effect here`);
    const base = trainBase(o);
    requireData(base, { afc: e !== 'stl_bx', bx: e === 'stl_bx' || e === 'mdmt' });
    const { runTrainCommand } = await import('../train');
    await runTrainCommand(o, base);
  });
}
