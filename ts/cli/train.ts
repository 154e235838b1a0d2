/**
 * `mdmt train`: one model on one fold into one run directory (a thin shell over train()).
 * Re-running the same command on the same --out resumes an interrupted run or prints the
 * finished one.
 *
 *   mdmt train --backbone resnet18 --experiment stl_afc --data-afc d/AIforCOVID --out runs/r18-afc
 */
import * as fs from 'fs';
import * as path from 'path';
import { RUN_FILES, train } from '../train/train';
import type { TrainConfigInput } from '../train/config';
import { logHooks, progressHooks } from '../train/progress';

/** The command's work, after commands/train.ts parsed the flags into `base` (trainBase) and checked the data. */
export async function runTrainCommand(o: Record<string, unknown>, base: Partial<TrainConfigInput>): Promise<void> {
  const input = {
    ...base,
    backbone: o.backbone as string, experiment: o.experiment as TrainConfigInput['experiment'], outDir: o.out as string,
    protocol: o.protocol as TrainConfigInput['protocol'],
    ...(o.fold !== undefined ? { fold: o.fold as number } : {}),
    ...(o.splitsDir ? { splitsDir: path.resolve(o.splitsDir as string) } : {}),
    // the flags override a --config file's init files (which were dropped)
    init: { ...(base.init ?? {}), ...(o.initStlAfc ? { stlAfc: o.initStlAfc as string } : {}), ...(o.initStlBx ? { stlBx: o.initStlBx as string } : {}) },
  } as TrainConfigInput;
  // a finished run is printed, not trained again: say so (the same lines as a fresh run, in no time, read as a run that trained)
  const finished = fs.existsSync(path.join(path.resolve(input.outDir), RUN_FILES.result));
  const r = await train(input, o.progress !== false ? progressHooks() : logHooks());
  if (finished) process.stderr.write(`mdmt train: ${path.resolve(input.outDir)} holds a finished run (${RUN_FILES.result}): its result is printed, nothing was trained; to train again, use another --out or delete it\n`);
  if (o.json) {
    process.stdout.write(JSON.stringify({ best: r.best, metrics: r.metrics, checkpointPath: r.checkpointPath, bestPath: r.bestPath, ...(r.result.skipped ? { skipped: r.result.skipped } : {}) }, null, 1) + '\n');
    return;
  }
  const pct = (m: { acc: number; f1: number; gmean: number }) => `ACC ${(100 * m.acc).toFixed(1)}  F1 ${(100 * m.f1).toFixed(1)}  GM ${(100 * m.gmean).toFixed(1)}`;
  // a covid-cxr run is neither data set: its τ1 is went_icu, its τ2 the films' Brixia scores
  const cxr = input.data?.covidCxr ? ' of covid-cxr' : '';
  const [t1, t2] = cxr ? ['τ1 prognosis', 'τ2 Brixia severity'] : ['τ1 AIforCOVID prognosis', 'τ2 BRIXIA severity'];
  const task = `${input.experiment === 'stl_bx' ? t2 : t1}${cxr}`;
  process.stdout.write(`${input.backbone} ${input.experiment} ${r.result.protocol} fold ${r.result.fold}: best epoch ${r.best.epoch}${r.best.selected ? '' : ' (no epoch after warm-up: last epoch)'} of ${r.history.length}\n` +
    `test ${pct(r.metrics.test)}  (${task})\n` +
    // MDMT's second head: its τ2 metrics were only in --json and result.json
    (r.metrics.bx ? `test ${pct(r.metrics.bx)}  (${t2}${cxr}, MDMT's second head)\n` : '') +
    `${r.bestPath}\n`);
}
