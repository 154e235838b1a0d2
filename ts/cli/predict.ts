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
import { Command, Option } from 'commander';
import { MdmtError } from '../errors';
import { collectImages } from '../predict/inputs';
import { predict, type PredictResult, type PredictTask } from '../predict/predict';
import { toCsv } from '../report/tables';
import { PAPER_RUN } from '../train/config';
import { EXIT, existingPath, intArg } from './options';

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

/** The command's action (also callable from code); returns the result and the exit code. */
export async function runPredict(paths: string[], o: Record<string, unknown>, log: (m: string) => void = (m) => process.stderr.write(m)): Promise<{ result: PredictResult; code: number }> {
  if (!o.run === !o.weights) throw new MdmtError('ECONFIG', '', 'give either --run DIR or --weights FILE [--backbone NAME]');
  // a run directory decides these itself (config.json): a flag that would be ignored is an error
  if (o.run) {
    const given = [['--backbone', o.backbone !== undefined], ['--image-size', o.imageSize !== undefined], ['--task', o.task !== undefined && o.task !== 'auto'],
      ['--no-imagenet-normalize', o.imagenetNormalize === false]].filter(([, g]) => g).map(([f]) => f);
    if (given.length) throw new MdmtError('ECONFIG', 'predict', `${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for --weights; --run uses the run's own settings (${path.join(o.run as string, 'config.json')})`);
  }
  const out = o.out as string | undefined;
  if (out && !/\.(csv|json)$/i.test(out)) throw new MdmtError('ECONFIG', '--out', `'${out}' must end in .csv or .json`);
  const heatmaps = (o.heatmaps as string | undefined) ?? (out ? path.join(path.dirname(path.resolve(out)), `${path.basename(out).replace(/\.[^.]*$/, '')}-heatmaps`) : path.resolve('heatmaps'));
  const inputs = collectImages(paths, { masks: o.masks as string | undefined });
  // a progress line only on a terminal (\r redraws it); logs and pipes get the summary alone
  const progress = o.progress !== false && process.stderr.isTTY === true;
  const task = o.task && o.task !== 'auto' ? (o.task as PredictTask) : undefined;
  // a run's best.safetensors without its run: the paper's image size and no calibration unless told, so say what --run would use
  const runDir = o.weights ? path.dirname(o.weights as string) : '';
  if (o.weights && fs.existsSync(path.join(runDir, 'config.json')) && o.imageSize === undefined)
    log(`mdmt predict: note: ${o.weights as string} belongs to the run ${runDir}; --run ${runDir} would use its image size, normalisation and calibration (here: ${PAPER_RUN.imageSize} px, uncalibrated)\n`);
  const result = await predict(inputs, {
    run: o.run as string | undefined, weights: o.weights as string | undefined, backbone: o.backbone as string | undefined, task,
    imageSize: o.imageSize as number | undefined, imagenetNormalize: o.imagenetNormalize === false ? false : undefined, calibrate: o.calibration !== false,
    batchSize: o.batchSize as number | undefined, workers: o.workers as number | undefined, device: o.device as string | undefined,
    explain: o.explain ? { dir: heatmaps, task: o.explainTask as 'afc' | 'bx' | undefined, classIndex: o.explainClass as number | undefined } : undefined,
    onProgress: progress ? (d, n) => log(`\rmdmt predict: ${d}/${n} images`) : undefined,
  });
  if (progress) log('\n');
  const text = out?.toLowerCase().endsWith('.json') ? JSON.stringify({ model: result.model, rows: result.rows }, null, 1) + '\n' : predictionsCsv(result);
  if (out) {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, text);
  } else process.stdout.write(text);
  const m = result.model;
  const T = Object.entries(m.temperature).map(([k, v]) => `${k} T=${v.toFixed(3)}`).join(', ');
  log(`mdmt predict: ${result.rows.length - result.failed} of ${result.rows.length} images scored with ${m.backbone} (${m.task}, ${m.imageSize} px, ${m.calibrated ? `calibrated: ${T}` : 'not calibrated'})` +
    `${out ? `; wrote ${out}` : ''}${o.explain ? `; heatmaps in ${heatmaps}` : ''}\n`);
  if (result.failed) {
    log(`mdmt predict: ${result.failed} image(s) failed:\n`);
    for (const r of result.rows.filter((x) => !x.ok)) log(`  ${r.file}: ${r.error}\n`);
  }
  return { result, code: result.failed ? EXIT.failure : EXIT.ok };
}

export function register(program: Command): void {
  program.command('predict')
    .description('score new X-rays with a trained run (or weights): P(SEVERE), BRIXIA bin probabilities, classes; --explain writes Grad-CAM overlays')
    .argument('<images...>', 'image files (DICOM, PNG, JPEG, TIFF) and folders (walked recursively)')
    .option('--run <dir>', 'a finished run directory (config.json, best.safetensors, result.json)', existingPath)
    .option('--weights <file>', 'weights (.safetensors or .onnx with state_dict keys) instead of a run', existingPath)
    .option('--backbone <name>', 'with --weights: the backbone (default: the one the file names, as a run\'s best.safetensors does)')
    .addOption(new Option('--task <task>', 'with --weights: the heads (auto: from the weights keys)').choices(['auto', 'mdmt', 'stl_afc', 'stl_bx']).default('auto'))
    .option('--image-size <n>', `with --weights: input side (default ${PAPER_RUN.imageSize}; a run uses its own)`, intArg(16))
    .option('--no-imagenet-normalize', 'with --weights: no ImageNet mean/std (a run uses its own setting)')
    .option('--out <file>', 'write the table to FILE.csv or FILE.json (default: CSV on stdout)')
    .option('--masks <dir>', 'lung masks: the file with the image\'s base name (any image extension) gives the lung crop', existingPath)
    .option('--explain', 'write a Grad-CAM overlay PNG per image (last convolutional stage)')
    .addOption(new Option('--explain-task <task>', 'the head Grad-CAM explains (default afc when the model has it)').choices(['afc', 'bx']))
    .option('--explain-class <n>', 'the class explained (default: SEVERE for afc, the predicted bin for bx)', intArg(0))
    .option('--heatmaps <dir>', 'where the overlays go (default <out stem>-heatmaps next to --out, or ./heatmaps)')
    .option('--no-calibration', 'raw softmax probabilities (no temperature scaling)')
    .option('--batch-size <n>', 'images per batch (default 16)', intArg(1))
    .option('--workers <n>', 'decoding worker threads (default 0: in-process)', intArg(0))
    .option('--device <name>', 'cpu, cuda or cuda:N (default $MDMT_DEVICE or cpu)')
    .option('--no-progress', 'no progress line')
    .action(async (images: string[], o: Record<string, unknown>) => {
      const { code } = await runPredict(images, o);
      if (code !== EXIT.ok) process.exitCode = code;
    });
}
