/**
 * predict() options, checked before anything is loaded or scored: unknown keys (ECONFIG
 * naming the nearest valid key, as train() does: `explian` was ignored and no heatmap
 * written), wrong types, the settings only a weights file takes given with a run (the run's
 * config.json decides its image size and normalisation: an ignored `imageSize: 128` scored
 * at 64 px without a word), and the explanation's head and class against the model's heads
 * (a bad class used to fail after the first batch had been scored).
 *
 *   checkPredictOptions(images, o);  checkExplain(o.explain, 'stl_afc');
 */
import * as fs from 'fs';
import { checkKeys, kindOf, MdmtError, show, type KeyTree } from '../errors';
import { isBox, type Box } from '../data/preprocess';
import { MAX_WORKERS } from '../train/config';
import type { GradCamOptions } from './gradcam';
import type { OverlayOptions } from './overlay';

/** The heads a model has: both (MDMT), τ1 only (STL τ1, FT) or τ2 only (STL τ2). */
export type PredictTask = 'mdmt' | 'stl_afc' | 'stl_bx';

/**
 * One image, with its lung mask file or lung box [x, y, w, h] (image pixels) when known. A box
 * partly outside the image is clipped to it (noted in the row); one that misses it fails the row.
 */
export interface PredictInput { image: string; mask?: string; box?: Box }

export interface PredictOptions {
  /** a run directory (config.json, best.safetensors; the result.json of a finished run holds the temperatures) */
  run?: string;
  /** or a weights file (.safetensors / .onnx, state_dict keys) with its backbone and task */
  weights?: string;
  /** weights only: the backbone (default: the one the file's metadata names, as a run's best.safetensors does) */
  backbone?: string;
  /** weights only: the heads (default: from the file's keys) */
  task?: PredictTask;
  /** weights only: input side (default: the size the file's metadata records, else 256) and ImageNet mean/std (default true); a run uses its own */
  imageSize?: number;
  imagenetNormalize?: boolean;
  /** apply the run's temperature scaling (default true) */
  calibrate?: boolean;
  /** images per batch (default 16) */
  batchSize?: number;
  /** loader worker threads (default 0: decode in this thread) */
  workers?: number;
  device?: string;
  /** Grad-CAM overlays, written as PNG into `dir` */
  explain?: GradCamOptions & OverlayOptions & { dir: string };
  /** after every batch: images done (read or failed) of the total */
  onProgress?: (done: number, total: number) => void;
  /** warnings as they arise (also in the result's `warnings`), e.g. a run without result.json */
  log?: (msg: string) => void;
}

const EXPLAIN_KEYS: KeyTree = { dir: true, task: true, classIndex: true, layer: true, score: true, maxSide: true, alpha: true };
export const PREDICT_KEYS: { [K in keyof Required<PredictOptions>]: true | KeyTree } = {
  run: true, weights: true, backbone: true, task: true, imageSize: true, imagenetNormalize: true, calibrate: true,
  batchSize: true, workers: true, device: true, explain: EXPLAIN_KEYS, onProgress: true, log: true,
};
/** openPredictor()'s options (the model and where it runs) and each Predictor.predict call's. */
export const PREDICTOR_KEYS: KeyTree = Object.fromEntries(['run', 'weights', 'backbone', 'task', 'imageSize', 'imagenetNormalize', 'calibrate', 'device', 'log'].map((k) => [k, PREDICT_KEYS[k as keyof PredictOptions]]));
export const PREDICT_CALL_KEYS: KeyTree = Object.fromEntries(['batchSize', 'workers', 'explain', 'onProgress'].map((k) => [k, PREDICT_KEYS[k as keyof PredictOptions]]));
/** What a run directory decides itself (config.json); only a bare weights file takes them. */
const WEIGHTS_ONLY = ['backbone', 'task', 'imageSize', 'imagenetNormalize'] as const;

const bad = (msg: string) => new MdmtError('ECONFIG', 'predict', msg);

/** Whether `p` is a folder; anything stat refuses (ENOENT, ENOTDIR, ELOOP, EACCES) is left to the image's row. */
function isFolder(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false; // a path under a file or in a link loop threw here, failing the whole call
  }
}

function checkInput(x: unknown, i: number): void {
  const o = (typeof x === 'string' ? { image: x } : x) as PredictInput | null;
  if (!(o && typeof o === 'object' && typeof o.image === 'string' && o.image && (o.mask === undefined || typeof o.mask === 'string')))
    throw bad(`images[${i}] must be a file path or { image, mask?, box? }, got ${show(x)}`);
  // a folder failed as that row's unreadable image (EISDIR); the CLI walks folders, the API takes files
  if (isFolder(o.image))
    throw bad(`images[${i}] '${o.image}' is a folder: predict() takes image files (collectImages(['${o.image}']) lists a folder's images, as mdmt predict does)`);
  // the image's size is known once it is decoded: a box outside it is that row's error (preprocess's boxOnImage)
  const b: unknown = o.box;
  if (b !== undefined && !isBox(b))
    throw bad(`images[${i}].box must be the lung box [x, y, w, h] in image pixels: 4 finite numbers with w > 0 and h > 0, got ${show(b)}`);
}

/**
 * Throws ECONFIG for an option predict() would otherwise ignore or misread (`keys`: the options
 * the caller takes: predict()'s all, openPredictor()'s or a Predictor call's share).
 */
export function checkPredictOptions(images: unknown, o: PredictOptions, keys: KeyTree = PREDICT_KEYS): void {
  if (!Array.isArray(images)) throw bad(`images must be an array of file paths or { image, mask?, box? }, got ${show(images)}`);
  images.forEach(checkInput);
  if (o === null || typeof o !== 'object') throw bad(`options must be an object, got ${show(o)}`);
  // an option of the other half (openPredictor's or each call's) is named with where it goes:
  // the nearest key of this half was suggested instead ('batchSize': "nearest is backbone")
  const other = keys === PREDICTOR_KEYS ? PREDICT_CALL_KEYS : keys === PREDICT_CALL_KEYS ? PREDICTOR_KEYS : undefined;
  const misplaced = other && Object.keys(o).find((k) => Object.prototype.hasOwnProperty.call(other, k));
  if (misplaced)
    throw bad(other === PREDICT_CALL_KEYS
      ? `options: unknown key '${misplaced}' for openPredictor(): it is an option of each call, p.predict(images, { ${misplaced} })`
      : `options: unknown key '${misplaced}' for a call: it is the model's, fixed when it is opened, openPredictor({ ${misplaced} })`);
  checkKeys(o, keys, { op: 'predict', where: 'options' });
  checkSource(o);
  if (o.run !== undefined)
    for (const k of WEIGHTS_ONLY)
      if (o[k] !== undefined) throw bad(`options.${k} is for a weights file; a run directory uses its own (config.json of ${o.run})`);
  if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1)) throw bad(`batchSize (--batch-size) must be an integer ≥ 1, got ${show(o.batchSize)}`);
  // train()'s bound: workers 100000 spawned threads until V8 died of OOM
  if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 0 || o.workers > MAX_WORKERS)) throw bad(`workers (--workers) must be an integer in [0, ${MAX_WORKERS}], got ${show(o.workers)}`);
  for (const k of ['calibrate', 'imagenetNormalize'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw bad(`${k} must be true or false, got ${show(o[k])}`); // 'no' meant true
  if (o.device !== undefined && typeof o.device !== 'string') throw bad(`device must be a device name (cpu, cuda, cuda:N), got ${show(o.device)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw bad(`onProgress must be a function (done, total), got ${show(o.onProgress)}`);
  if (o.log !== undefined && typeof o.log !== 'function') throw bad(`log must be a function (message), got ${show(o.log)}`);
  if (o.explain !== undefined) checkExplainOptions(o.explain);
}

/** What a wrong value is: 'a number (5)', 'an array ["a"]', 'an Object {}', 'an empty string'. */
function typeOf(v: unknown): string {
  if (v === '') return 'an empty string';
  if (v === null || typeof v === 'string') return show(v);
  if (typeof v !== 'object') return `a ${typeof v} (${show(v)})`;
  return `${kindOf(v)} ${show(v)}`;
}

/**
 * The model source's types: a number or an object as `run` or `weights` reached fs as a raw
 * TypeError ('The "paths[0]" argument must be of type string'), `run: ''` read as no run at
 * all, and a bad backbone or task was only seen after the weights file was looked for.
 */
function checkSource(o: PredictOptions): void {
  const want = { run: 'a run directory path', weights: 'a weights file path', backbone: 'a backbone name' } as const;
  for (const k of ['run', 'weights', 'backbone'] as const) {
    const v: unknown = o[k];
    if (v !== undefined && (typeof v !== 'string' || !v)) throw bad(`options.${k} must be ${want[k]} (a non-empty string), got ${typeOf(v)}`);
  }
  const t: unknown = o.task;
  if (t !== undefined && !(['mdmt', 'stl_afc', 'stl_bx'] as unknown[]).includes(t)) throw bad(`options.task must be 'mdmt', 'stl_afc' or 'stl_bx', got ${typeOf(t)}`);
}

/** The explanation's own settings (its head and class are checked against the model by checkExplain). */
function checkExplainOptions(ex: PredictOptions['explain']): void {
  if (ex === null || typeof ex !== 'object' || typeof ex.dir !== 'string' || !ex.dir)
    throw bad(`explain must be { dir, task?, classIndex? } with dir the folder for the overlays, got ${show(ex)}`);
  const wrong = (k: string, want: string) => bad(`explain.${k} must be ${want}, got ${show((ex as unknown as Record<string, unknown>)[k])}`);
  if (ex.task !== undefined && ex.task !== 'afc' && ex.task !== 'bx') throw wrong('task', "'afc' (τ1) or 'bx' (τ2)");
  if (ex.score !== undefined && ex.score !== 'logit' && ex.score !== 'logprob') throw wrong('score', "'logit' or 'logprob'");
  if (ex.layer !== undefined && (typeof ex.layer !== 'string' || !ex.layer)) throw wrong('layer', "a module path such as 'backbone.layer4'");
  // an opacity of 7 or NaN wrote garbage colours; a longest side of 0 a 1-pixel PNG
  if (ex.alpha !== undefined && !(typeof ex.alpha === 'number' && ex.alpha >= 0 && ex.alpha <= 1)) throw wrong('alpha', 'an opacity in [0, 1]');
  if (ex.maxSide !== undefined && !(Number.isInteger(ex.maxSide) && ex.maxSide >= 16)) throw wrong('maxSide', 'an integer ≥ 16 (the longest side of the overlay PNG in pixels)');
}

/** The heads of a model: MDMT both, STL τ1 (and FT) afc, STL τ2 bx. */
export const headsOf = (task: PredictTask): ('afc' | 'bx')[] => (task === 'mdmt' ? ['afc', 'bx'] : task === 'stl_afc' ? ['afc'] : ['bx']);

/** Throws ECONFIG when the explained head or class does not exist in a `task` model. */
export function checkExplain(ex: NonNullable<PredictOptions['explain']>, task: PredictTask): void {
  const heads = headsOf(task);
  if (ex.task !== undefined && !heads.includes(ex.task))
    throw bad(`explain.task '${String(ex.task)}': the ${task} model has only the ${heads.join(' and ')} head (afc: τ1 prognosis, bx: τ2 BRIXIA bins)`);
  const head = ex.task ?? heads[0]!;
  const C = head === 'afc' ? 2 : 4;
  const c = ex.classIndex;
  if (c !== undefined && c !== 'predicted' && (!Number.isInteger(c) || c < 0 || c >= C))
    throw bad(`explain.classIndex ${show(c)} is outside 0..${C - 1} (the ${head} head has ${C} classes)`);
}
