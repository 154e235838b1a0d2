/**
 * `mdmt predict (--run DIR | --weights FILE --backbone NAME) [--out FILE.csv|.json] [--explain]
 * IMAGES_OR_DIRS...`: a trained model on new X-rays, one row per image (P(SEVERE), the four
 * BRIXIA bin probabilities, predicted classes, calibrated by the run's temperature), CSV on
 * stdout or into --out (.csv or .json); with --explain a Grad-CAM overlay PNG per image in
 * --heatmaps (default: `<out stem>-heatmaps/` next to --out). An unreadable image is reported
 * in its row and at the end; the others are scored; the exit code is then 1.
 *
 *   mdmt predict --run runs/cv/resnet18/mdmt/fold0 --out preds.csv --explain scans/
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkDir, checkFileDir, ensureFileDir, fileStem, sameFile } from '../dirs';
import { MdmtError } from '../errors';
import { collectImages } from '../predict/inputs';
import { predict, type PredictResult, type PredictTask } from '../predict/predict';
import { fromMetadata, preprocessingWarning, type Preprocessing } from '../predict/trained';
import { toCsv } from '../report/tables';
import { atomicWriteFile } from '../train/checkpoint';
import { PAPER_RUN } from '../train/config';
import { EXIT } from './options';

/** The rows as CSV: the columns of the heads the model has. */
export function predictionsCsv(r: PredictResult): string {
  const afc = r.model.task !== 'stl_bx', bx = r.model.task !== 'stl_afc';
  const head = ['file', 'status', ...(afc ? ['p_severe', 'afc_class'] : []), ...(bx ? ['p_bx0', 'p_bx1', 'p_bx2', 'p_bx3', 'bx_class'] : []), 'heatmap', 'note', 'error'];
  const rows = r.rows.map((x) => [
    x.file, x.ok ? 'ok' : 'error',
    ...(afc ? [x.pSevere, x.afcClass] : []),
    ...(bx ? [...(x.bxProbs ?? [undefined, undefined, undefined, undefined]), x.bxClass] : []),
    x.heatmap, x.note, x.error,
  ]);
  return toCsv(head, rows);
}

/** The run a model comes from: --run, or the run whose best.safetensors --weights is (its folder holds config.json). */
function runOf(o: Record<string, unknown>): string | undefined {
  if (o.run) return o.run as string;
  const dir = o.weights ? path.dirname(o.weights as string) : '';
  return dir && fs.existsSync(path.join(dir, 'config.json')) ? dir : undefined;
}

/** Whether predict() will warn that `weights` were trained with other preprocessing (false when the file cannot be read: predict names that). */
function preprocessingDiffers(weights: string, used: Preprocessing): boolean {
  try {
    return preprocessingWarning(weights, used) !== undefined;
  } catch {
    return false;
  }
}

/** The image size predict() scores `weights` at without --image-size: their metadata's, else the paper's (also when the file cannot be read: predict names that). */
function recordedSize(weights: string): number {
  try {
    return fromMetadata(weights).imageSize ?? PAPER_RUN.imageSize;
  } catch {
    return PAPER_RUN.imageSize;
  }
}

/**
 * Refuses (ECONFIG) an --out that is the run's config.json or result.json: the table replaced
 * the run's settings (predict --run then failed on it) or made an unfinished run look finished.
 */
function refuseRunRecord(out: string, run: string | undefined): void {
  if (!run) return;
  for (const f of ['config.json', 'result.json']) {
    const rec = path.join(path.resolve(run), f);
    if (sameFile(out, rec))
      throw new MdmtError('ECONFIG', 'predict', `--out '${out}' is the run's ${f}${path.resolve(out) === rec ? '' : ` (${rec})`}: writing the predictions there would destroy the run's record; give another file`);
  }
}

/** The command's action (also callable from code); returns the result and the exit code. */
export async function runPredict(paths: string[], o: Record<string, unknown>, log: (m: string) => void = (m) => process.stderr.write(m)): Promise<{ result: PredictResult; code: number }> {
  if (!o.run === !o.weights) throw new MdmtError('ECONFIG', '', 'give either --run DIR or --weights FILE [--backbone NAME]');
  // a run directory decides these itself (config.json): a flag that would be ignored is an error
  if (o.run) {
    const given = [['--backbone', o.backbone !== undefined], ['--image-size', o.imageSize !== undefined], ['--task', o.task !== undefined && o.task !== 'auto'],
      ['--no-imagenet-normalize', o.imagenetNormalize === false]].filter(([, g]) => g).map(([f]) => f);
    if (given.length) throw new MdmtError('ECONFIG', 'predict', `${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for --weights; --run uses the run's own settings (${path.join(o.run as string, 'config.json')})`);
  }
  // the Grad-CAM settings do nothing without --explain
  const explainOnly = [['--heatmaps', o.heatmaps !== undefined], ['--explain-task', o.explainTask !== undefined], ['--explain-class', o.explainClass !== undefined]].filter(([, g]) => g && !o.explain).map(([f]) => f);
  if (explainOnly.length) throw new MdmtError('ECONFIG', 'predict', `${explainOnly.join(', ')} ${explainOnly.length > 1 ? 'are' : 'is'} for --explain (Grad-CAM overlays), which was not given`);
  const out = o.out as string | undefined;
  if (out && !/\.(csv|json)$/i.test(out)) throw new MdmtError('ECONFIG', '--out', `'${out}' must end in .csv or .json`);
  if (out) refuseRunRecord(out, runOf(o));
  const heatmaps = (o.heatmaps as string | undefined) ?? (out ? path.join(path.dirname(path.resolve(out)), `${fileStem(out)}-heatmaps`) : path.resolve('heatmaps'));
  // a directory named like the table, or a file named like the heatmap folder: said now, not after every image was scored
  if (out && o.explain && path.resolve(out) === path.resolve(heatmaps))
    throw new MdmtError('ECONFIG', 'predict', `--out and --heatmaps are both '${out}': the table is a file, the heatmaps a folder`);
  // checked now, made only once the model and its options are accepted: a refused call leaves
  // no empty folder behind (predict() makes the heatmap folder, the table's before it is written)
  if (out) checkFileDir(out, 'predict', '--out');
  if (o.explain) checkDir(heatmaps, 'predict', o.heatmaps === undefined ? '--heatmaps (default: <out stem>-heatmaps)' : '--heatmaps');
  const inputs = collectImages(paths, { masks: o.masks as string | undefined, log: (m) => log(`mdmt predict: ${m}\n`) });
  // a progress line only on a terminal (\r redraws it); logs and pipes get the summary alone
  const progress = o.progress !== false && process.stderr.isTTY === true;
  const task = o.task && o.task !== 'auto' ? (o.task as PredictTask) : undefined;
  // a run's best.safetensors without its run: its recorded image size (else the paper's) and no calibration unless told, so say what --run would use
  const runDir = o.weights ? runOf(o) : undefined;
  // another size or normalisation than the run's is predict()'s warning, which names --run too
  if (runDir && o.imageSize === undefined) {
    const size = recordedSize(o.weights as string);
    if (!preprocessingDiffers(o.weights as string, { imageSize: size, imagenetNormalize: o.imagenetNormalize !== false }))
      log(`mdmt predict: note: ${o.weights as string} belongs to the run ${runDir}; --run ${runDir} would use its image size, normalisation and calibration (here: ${size} px, uncalibrated)\n`);
  }
  const result = await predict(inputs, {
    run: o.run as string | undefined, weights: o.weights as string | undefined, backbone: o.backbone as string | undefined, task,
    imageSize: o.imageSize as number | undefined, imagenetNormalize: o.imagenetNormalize === false ? false : undefined, calibrate: o.calibration !== false,
    batchSize: o.batchSize as number | undefined, workers: o.workers as number | undefined, device: o.device as string | undefined,
    explain: o.explain ? { dir: heatmaps, task: o.explainTask as 'afc' | 'bx' | undefined, classIndex: o.explainClass as number | undefined } : undefined,
    onProgress: progress ? (d, n) => log(`\rmdmt predict: ${d}/${n} images`) : undefined,
    log: (m) => log(`mdmt predict: warning: ${m}\n`),
  });
  if (progress) log('\n');
  const text = out?.toLowerCase().endsWith('.json') ? JSON.stringify({ model: result.model, warnings: result.warnings, rows: result.rows }, null, 1) + '\n' : predictionsCsv(result);
  if (out) {
    try {
      ensureFileDir(out, 'predict', '--out');
      // through a temporary file and a rename: a write cut by a full disk left a table of fewer
      // rows (or half a JSON) under the final name, over the previous one
      atomicWriteFile(out, text);
    } catch (e) {
      // every image is scored by now: the results go to stdout rather than nowhere
      process.stdout.write(text);
      throw new MdmtError('EIO', 'predict', `--out '${out}' could not be written (${(e as MdmtError).detail ?? (e as Error).message}); the results were written to stdout instead`);
    }
  } else process.stdout.write(text);
  const m = result.model;
  const T = Object.entries(m.temperature).map(([k, v]) => `${k} T=${v.toFixed(3)}`).join(', ');
  log(`mdmt predict: ${result.rows.length - result.failed} of ${result.rows.length} images scored with ${m.backbone} (${m.task}, ${m.imageSize} px, ${m.calibrated ? `calibrated: ${T}` : 'not calibrated'})` +
    `${out ? `; wrote ${out}` : ''}${o.explain ? `; heatmaps in ${heatmaps}` : ''}\n`);
  if (result.failed) {
    log(`mdmt predict: ${result.failed} image(s) failed:\n`);
    for (const r of result.rows.filter((x) => !x.ok)) log(`  ${r.file}: ${r.error}\n`);
  }
  // a scored row without its overlay: the write failed (a full disk), which only its note said while the command succeeded
  const noOverlay = o.explain ? result.rows.filter((x) => x.ok && !x.heatmap) : [];
  if (noOverlay.length) {
    log(`mdmt predict: ${noOverlay.length} heatmap(s) not written:\n`);
    // the reason is the last part of the row's note (explainBatch adds it last)
    for (const r of noOverlay) log(`  ${r.file}: ${r.note?.includes('heatmap failed') ? r.note.slice(r.note.lastIndexOf('heatmap failed')) : 'heatmap failed'}\n`);
  }
  return { result, code: result.failed || noOverlay.length ? EXIT.failure : EXIT.ok };
}
