/**
 * `mdmt train`: one model on one fold into one run directory (a thin shell over train()).
 * Re-running the same command on the same --out resumes an interrupted run or prints the
 * finished one.
 *
 *   mdmt train --backbone resnet18 --experiment stl_afc --data-afc d/AIforCOVID --out runs/r18-afc
 */
import * as path from 'path';
import { Command, Option } from 'commander';
import { train } from '../train/train';
import { EXPERIMENTS, PROTOCOLS, type TrainConfigInput } from '../train/config';
import { progressHooks, SILENT } from '../train/progress';
import { addTrainFlags, existingPath, intArg, requireData, trainBase } from './options';

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
    const input = {
      ...base,
      backbone: o.backbone as string, experiment: o.experiment as TrainConfigInput['experiment'], outDir: o.out as string,
      protocol: o.protocol as TrainConfigInput['protocol'],
      ...(o.fold !== undefined ? { fold: o.fold as number } : {}),
      ...(o.splitsDir ? { splitsDir: path.resolve(o.splitsDir as string) } : {}),
      init: { ...(o.initStlAfc ? { stlAfc: o.initStlAfc as string } : {}), ...(o.initStlBx ? { stlBx: o.initStlBx as string } : {}) },
    } as TrainConfigInput;
    const r = await train(input, o.progress !== false ? progressHooks() : SILENT);
    if (o.json) {
      process.stdout.write(JSON.stringify({ best: r.best, metrics: r.metrics, checkpointPath: r.checkpointPath, bestPath: r.bestPath }, null, 1) + '\n');
      return;
    }
    const m = r.metrics.test;
    process.stdout.write(`${input.backbone} ${input.experiment} ${r.result.protocol} fold ${r.result.fold}: best epoch ${r.best.epoch}${r.best.selected ? '' : ' (no epoch after warm-up: last epoch)'} of ${r.history.length}\n` +
      `test ACC ${(100 * m.acc).toFixed(1)}  F1 ${(100 * m.f1).toFixed(1)}  GM ${(100 * m.gmean).toFixed(1)}\n` +
      `${r.bestPath}\n`);
  });
}
