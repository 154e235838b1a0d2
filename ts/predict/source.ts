/**
 * Where predict's model comes from: a run directory (config.json for the backbone, experiment,
 * image size and normalisation; best.safetensors; the temperatures of result.json) or a weights
 * file with its backbone and task, each checked as train() would and named when wrong; then the
 * model built and its weights loaded.
 *
 *   const { info, weights, warnings } = modelSource({ run: 'runs/cv/resnet18/mdmt/fold0' });
 *   const net = buildModel(info, weights);
 */
import * as fs from 'fs';
import * as path from 'path';
import { isPlain, MdmtError, show } from '../errors';
import { checkWeightsBackbone, checkWeightsPath, inferTask, loadWeightsFile, weightsBackbone, weightShapes } from '../io/weights';
import { MDMTModel, STLModel } from '../models/mdmt';
import { modelInfo } from '../models/zoo';
import { globalGenerator } from '../random';
import { readJson } from '../train/checkpoint';
import { readRunResult } from '../train/result_file';
import { checkModelName, EXPERIMENTS, MAX_IMAGE_SIZE, PAPER_RUN, type ExperimentName } from '../train/config';
import type { PredictOptions, PredictTask } from './options';
import { fromMetadata, preprocessingWarning, runWeightsWarning } from './trained';

/** What was run: the model, its preprocessing and the temperatures applied (1 = none). */
export interface PredictModelInfo {
  source: string;
  backbone: string;
  task: PredictTask;
  imageSize: number;
  imagenetNormalize: boolean;
  temperature: { afc?: number; bx?: number };
  calibrated: boolean;
}

const taskOf = (e: ExperimentName): PredictTask => (e === 'mdmt' ? 'mdmt' : e === 'stl_bx' ? 'stl_bx' : 'stl_afc');

/**
 * Why `size` is not an input side train() takes for `backbone`: below the backbone's smallest
 * input an op failed on a 0×0 map (DenseNet at 28 px: "avgpool2d: ... output would be 0×0");
 * a huge side failed allocating the batch.
 */
function sizeError(size: unknown, backbone: string): string | undefined {
  const min = Math.max(16, modelInfo(backbone).minSize);
  if (typeof size === 'number' && Number.isInteger(size) && size >= min && size <= MAX_IMAGE_SIZE) return undefined;
  return `must be an integer in [${min}, ${MAX_IMAGE_SIZE}]${min > 16 ? ` for ${backbone} (smaller inputs shrink to a 0×0 map inside it)` : ''}, got ${show(size)}`;
}

/** Reads the run directory's settings, weights path and temperatures, naming what is missing. */
function runSource(dir: string, calibrate: boolean): { info: PredictModelInfo; weights: string; warnings: string[] } {
  const file = (f: string) => path.join(dir, f);
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new MdmtError('EIO', 'predict', `run (--run) '${dir}' does not exist`);
  // --run runs/x/config.json said "is not a run directory (no config.json)"
  if (!st.isDirectory())
    throw new MdmtError('ECONFIG', 'predict', `run (--run) '${dir}' is a file, not a run directory: give its folder, ${path.dirname(dir)}${/\.(safetensors|onnx)$/.test(dir) ? ' (or the file as weights, --weights)' : ''}`);
  if (!fs.existsSync(file('config.json'))) throw new MdmtError('EIO', 'predict', `${dir} is not a run directory (no config.json)`);
  const best = fs.statSync(file('best.safetensors'), { throwIfNoEntry: false });
  if (!best) throw new MdmtError('EIO', 'predict', `${dir} has no best.safetensors (the run has not finished an epoch)`);
  if (best.isDirectory()) throw new MdmtError('EIO', 'predict', `${file('best.safetensors')} is a folder, not the run's weights file`);
  const c = readJson<{ backbone?: unknown; experiment?: unknown; imageSize?: unknown; imagenetNormalize?: unknown }>(file('config.json'), 'predict');
  // null or a list was a TypeError reading its backbone
  if (!isPlain(c)) throw new MdmtError('EDATA', 'predict', `${file('config.json')} is not a JSON object (edited by hand, or not a config.json that train() wrote)`);
  if (typeof c.backbone !== 'string' || !EXPERIMENTS.includes(c.experiment as ExperimentName) || c.imageSize === undefined)
    throw new MdmtError('EDATA', 'predict', `${file('config.json')} lacks backbone, experiment or imageSize`);
  checkModelName(c.backbone, 'predict', `${file('config.json')}: backbone`);
  // 5 px was scored without a word, -3 failed inside compileInference
  const wrong = sizeError(c.imageSize, c.backbone);
  if (wrong) throw new MdmtError('EDATA', 'predict', `${file('config.json')}: imageSize ${wrong} (edited by hand, or not a config.json that train() wrote)`);
  const temperature: PredictModelInfo['temperature'] = {};
  const finished = fs.existsSync(file('result.json'));
  if (calibrate && finished) {
    const cal = readRunResult(file('result.json'), 'predict').calibration; // checked: a temperature is a positive number
    for (const t of ['afc', 'bx'] as const) if (cal?.[t]) temperature[t] = cal[t]!.temperature;
  }
  const used = { imageSize: c.imageSize as number, imagenetNormalize: c.imagenetNormalize !== false };
  return {
    weights: file('best.safetensors'),
    warnings: [
      // interrupted or still training: scored as if finished, uncalibrated, without a word
      finished ? undefined : `${dir} has no result.json: the run is unfinished (interrupted, or still training) and best.safetensors is its best epoch so far` +
        (calibrate ? '; the probabilities are not calibrated (the temperatures are fitted when training ends)' : ''),
      runWeightsWarning(file('best.safetensors'), file('config.json'), used),
    ].filter((w): w is string => w !== undefined),
    info: {
      source: dir, backbone: c.backbone, task: taskOf(c.experiment as ExperimentName), ...used, temperature, calibrated: Object.keys(temperature).length > 0,
    },
  };
}

/**
 * The heads a weights file carries, from its keys (afc_head.* → MDMT, head.* → single-task);
 * a file with neither (ImageNet or bare backbone weights) is an error: no task fits it.
 */
export function taskOfWeights(file: string): PredictTask {
  const t = inferTask(weightShapes(file));
  // no task fits such a file (the models' keys begin with backbone.): asking for --task sent users in a circle
  if (t !== 'mdmt' && t !== 'stl_afc' && t !== 'stl_bx')
    throw new MdmtError('EDATA', 'predict', `${file} holds ${t === 'imagenet' ? 'an ImageNet classifier (fc / classifier keys)' : 'a bare backbone'}, not a trained MDMT or single-task model (afc_head.*, bx_head.* or head.* keys): predict scores a run's best.safetensors, or its mdmt export`);
  return t;
}

/** The readers whose errors about a file predict was given (a run's, or --weights) are raised as predict's: they name the file. */
const READERS = new Set(['readJson', 'readSafetensorsMetadata', 'loadSafetensors', 'readOnnx']);

/**
 * A reader's error ('readSafetensorsMetadata: …', a function the user never called) as
 * predict's, naming `file` when the reader did not name a file (a tensor's dtype); else `e`.
 */
function asPredict(e: unknown, file: string, ...names: string[]): unknown {
  if (!(e instanceof MdmtError && READERS.has(e.op))) return e;
  return new MdmtError(e.code, 'predict', [file, ...names].some((f) => e.detail.includes(f)) ? e.detail : `${file}: ${e.detail}`);
}

/** The model a predict call or a Predictor scores with: its settings, weights file and the warnings about them. */
export function modelSource(o: PredictOptions): { info: PredictModelInfo; weights: string; warnings: string[] } {
  try {
    return sourceOf(o);
  } catch (e) {
    const file = o.run ? path.join(path.resolve(o.run), 'best.safetensors') : String(o.weights);
    throw asPredict(e, file, o.run ? String(o.run) : path.resolve(String(o.weights)));
  }
}

function sourceOf(o: PredictOptions): { info: PredictModelInfo; weights: string; warnings: string[] } {
  if (o.run && o.weights) throw new MdmtError('ECONFIG', 'predict', 'give a run directory or a weights file, not both');
  if (o.run) return runSource(path.resolve(o.run), o.calibrate !== false);
  if (!o.weights) throw new MdmtError('ECONFIG', 'predict', 'no model: give a run directory (run) or a weights file with its backbone (weights, backbone)');
  checkWeightsPath(o.weights, 'predict', 'weights (--weights)');
  // a run's best.safetensors names its backbone: it is the default, and a contradiction is an error
  const backbone = o.backbone ?? weightsBackbone(o.weights, 'predict');
  if (!backbone) throw new MdmtError('ECONFIG', 'predict', `give the backbone (backbone, --backbone): ${o.weights} does not name one in its metadata`);
  checkModelName(backbone, 'predict', 'backbone');
  checkWeightsBackbone(o.weights, backbone, 'predict', 'backbone (--backbone)');
  const task = o.task ?? taskOfWeights(o.weights); // a given task was checked with the options
  // the size the weights were trained at (their metadata: a best.safetensors, or its mdmt export)
  // unless told, as mdmt export takes its --size: a 32 px export was scored at 256 px, with a warning
  const meta = o.imageSize === undefined ? fromMetadata(o.weights, { op: 'predict', flag: 'imageSize, --image-size' }) : undefined, recorded = meta?.imageSize;
  const size = o.imageSize ?? recorded ?? PAPER_RUN.imageSize, wrong = sizeError(size, backbone);
  if (wrong && recorded !== undefined)
    throw new MdmtError('EDATA', 'predict', `${o.weights} records imageSize ${recorded} in its metadata, which ${wrong}: give imageSize (--image-size)`);
  if (wrong) throw new MdmtError('ECONFIG', 'predict', `imageSize (--image-size) ${wrong}`);
  const used = { imageSize: size, imagenetNormalize: o.imagenetNormalize !== false };
  const warning = preprocessingWarning(o.weights, used, meta); // trained at 64 px, scored at the default 256
  return {
    weights: path.resolve(o.weights), warnings: warning ? [warning] : [],
    info: { source: path.resolve(o.weights), backbone, task, ...used, temperature: {}, calibrated: false },
  };
}

/** The model of `info` with the weights of `weights`, in eval mode; the global generator's stream is left as it was. */
export function buildModel(info: PredictModelInfo, weights: string): MDMTModel | STLModel {
  // building draws initial weights from the global generator: leave the caller's stream as it was
  const rngState = globalGenerator.getState();
  const m = info.task === 'mdmt' ? new MDMTModel(info.backbone) : new STLModel(info.task === 'stl_bx' ? 'bx' : 'afc', info.backbone);
  globalGenerator.setState(rngState);
  try {
    loadWeightsFile(m, weights, { op: 'predict' });
  } catch (e) {
    m.dispose();
    // weights that fit but hold a NaN / ±inf are named as such, not as a misfit
    if (e instanceof MdmtError && e.code === 'EDATA' && e.op === 'predict') throw e;
    // a truncated or unreadable file is named as such, not as weights of another model
    if (e instanceof MdmtError && READERS.has(e.op)) throw asPredict(e, weights);
    throw new MdmtError('EDATA', 'predict', `${weights} does not fit a ${info.task} ${info.backbone} model: ${(e as Error).message}`);
  }
  return m.eval();
}
