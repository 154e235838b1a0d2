/**
 * `mdmt export [--model NAME] --out file.onnx [--weights file] [--size N] [--batch 1]
 * [--task auto|imagenet|backbone|mdmt|stl_afc|stl_bx]`: builds the model, loads the
 * weights (safetensors or ONNX initializers, strict), and writes its eval-mode ONNX graph
 * (opset 17, symbolic batch). `--task auto` picks the model from the weights' keys
 * (afc_head.* → MDMT, head.* → single-task, otherwise the ImageNet model with classifier;
 * without weights: the ImageNet model); `--task backbone` of a run's weights exports its
 * trained backbone (their backbone.* tensors), of ImageNet weights the backbone without the
 * classifier. `--model` defaults to the backbone a run's best.safetensors names in its
 * metadata, `--size` to the image size it records (else 256).
 *
 *   mdmt export --model resnet18 --weights runs/x/best.safetensors --out mdmt_resnet18.onnx
 */
import * as path from 'path';
import { checkFileDir, ensureFileDir, fileStem, sameFile } from '../dirs';
import { MdmtError } from '../errors';
import { exportOnnx } from '../io/onnx_export';
import { checkWeightsBackbone, checkWeightsPath, inferTask, loadWeightsFile, weightsBackbone, weightShapes } from '../io/weights';
import { getModel, listModels, modelInfo } from '../models/zoo';
import { MDMTModel, STLModel } from '../models/mdmt';
import { Module } from '../nn/module';
import { manualSeed } from '../random';
import { fromMetadata } from '../predict/trained';
import { MAX_IMAGE_SIZE, nearestModel, PAPER_RUN } from '../train/config';
import { EXPORT_TASKS, type ExportTask } from './options';

export type { ExportTask };

/** The largest traced batch `mdmt export` takes: the ONNX batch dimension stays symbolic. */
export const MAX_EXPORT_BATCH = 1024;

/** A flag's decimal integer (NaN for anything else: '1e2', '0x20', '1.5', ''). */
function intFlag(v: string | number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  return typeof v === 'number' || /^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : NaN;
}
export { inferTask } from '../io/weights';



/** Whether `keys` are the state_dict keys of `m` (num_batches_tracked aside: an ONNX file holds none). */
function sameKeys(m: Module, keys: readonly string[]): boolean {
  const counted = (k: string) => !k.endsWith('num_batches_tracked');
  const own = [...m.stateDict().keys()].filter(counted), given = new Set(keys.filter(counted));
  return own.length === given.size && own.every((k) => given.has(k));
}

/** Builds the model an export asks for. */
export function buildForExport(name: string, task: Exclude<ExportTask, 'auto'>, numClasses?: number): Module {
  switch (task) {
    case 'imagenet': return getModel(name, { numClasses });
    case 'backbone': return getModel(name, { withClassifier: false });
    case 'mdmt': return new MDMTModel(name);
    case 'stl_afc': return new STLModel('afc', name);
    case 'stl_bx': return new STLModel('bx', name);
  }
}

export interface ExportCliOptions {
  /** default: the backbone the weights file's metadata names */
  model?: string;
  out: string;
  weights?: string;
  size?: string;
  batch?: string;
  task?: string;
  classes?: string;
}

/** Loads ImageNet classifier weights into `model`, the bare backbone `name`: the classifier dropped. */
function loadImagenetBackbone(model: Module, name: string, weights: string, classes: number | undefined): void {
  const full = buildForExport(name, 'imagenet', classes);
  try {
    loadWeightsFile(full, weights, { op: 'export' });
    const own = model.stateDict();
    model.loadStateDict(new Map([...full.stateDict()].filter(([k]) => own.has(k))), { op: 'export' });
  } finally {
    full.dispose();
  }
}

/** `f` with the extension .onnx, for a message's example. */
const onnx = (f: string) => path.join(path.dirname(f), `${fileStem(f)}.onnx`);

/**
 * Refuses (ECONFIG) an --out that is the --weights file or any .safetensors path: the ONNX
 * graph was written over the run's best.safetensors it was made from.
 */
function refuseOverwritingWeights(out: string, weights: string | undefined): void {
  if (weights !== undefined && sameFile(out, weights))
    throw new MdmtError('ECONFIG', 'export', `--out '${out}' is the --weights file${path.resolve(out) === path.resolve(weights) ? '' : ` (${weights})`}: the ONNX graph would overwrite the weights it is made from; give another file${/\.onnx$/i.test(out) ? '' : `, e.g. ${onnx(out)}`}`);
  if (/\.safetensors$/i.test(out))
    throw new MdmtError('ECONFIG', 'export', `--out '${out}' is a .safetensors path: export writes an ONNX graph; give a .onnx file, e.g. ${onnx(out)}`);
}

/** The command's action (also callable from code). */
export function runExport(opts: ExportCliOptions): { file: string; task: string; params: number; model: string; size: number } {
  if (opts.weights !== undefined) checkWeightsPath(opts.weights, 'export', '--weights');
  refuseOverwritingWeights(opts.out, opts.weights);
  // a run's best.safetensors names its backbone: --model is needed only for other files
  const named = opts.model ?? (opts.weights ? weightsBackbone(opts.weights, 'export') : undefined);
  if (!named) throw new MdmtError('ECONFIG', 'export', `--model is required${opts.weights ? ` (${opts.weights} names no backbone in its metadata)` : ''}: one of ${listModels().join(', ')}`);
  const o = { ...opts, model: named };
  if (!listModels().includes(o.model)) {
    // a zoo name, worded as getModel words it, with the nearest registered name
    const near = nearestModel(o.model);
    throw new MdmtError('ECONFIG', 'export', `unknown model '${o.model}'${near ? ` (did you mean ${near}?)` : ''}; registered: ${listModels().join(', ')}`);
  }
  // decimal integers only, as every other command's integer flags: Number() also read '1e2' and
  // '0x20' (and the message then said "input N×3×1e2×1e2"); --size up to train()'s and
  // predict()'s largest input: 100000 failed with a bare "Invalid typed array length"
  // the size the weights were trained at (their metadata) unless told: an export of a 32 px run
  // declared a 256 px input, which predict then warned about
  const trained = o.weights ? fromMetadata(o.weights, o.size === undefined ? { op: 'export', flag: '--size' } : undefined) : {};
  const size = intFlag(o.size, trained.imageSize ?? PAPER_RUN.imageSize), batch = intFlag(o.batch, 1);
  const minSize = modelInfo(o.model).minSize;
  const range = `an integer in [${minSize}, ${MAX_IMAGE_SIZE}]${minSize > 1 ? ` for ${o.model}` : ''}`;
  // a size out of range that the weights' metadata gave, not --size: said so ("--size ..., got undefined")
  if (o.size === undefined && trained.imageSize !== undefined && !(size >= minSize && size <= MAX_IMAGE_SIZE))
    throw new MdmtError('EDATA', 'export', `${o.weights} records imageSize ${size} in its metadata, which must be ${range}: give the input size (--size)`);
  if (!Number.isInteger(size) || size < minSize || size > MAX_IMAGE_SIZE)
    throw new MdmtError('ECONFIG', 'export', `--size must be ${range}, got ${o.size}`);
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_EXPORT_BATCH)
    throw new MdmtError('ECONFIG', 'export', `--batch must be an integer in [1, ${MAX_EXPORT_BATCH}] (the ONNX batch dimension stays symbolic: it only sets the traced input), got ${o.batch}`);
  // a directory at --out or a file among its folders: named now, not a raw EISDIR / ENOTDIR after
  // the model was built; its folder is made only once the model is (a refused export makes none)
  checkFileDir(o.out, 'export', '--out');
  // an ONNX graph under another name (model.json, model.pt) was written without a word
  // lower case, as every reader of weights files (predict --weights, export --weights, train's inits) takes them: m.ONNX was written, then refused
  if (!/\.onnx$/.test(o.out)) throw new MdmtError('ECONFIG', 'export', `--out '${o.out}' must end in .onnx: export writes an ONNX graph; give e.g. ${onnx(o.out)}`);
  const task = (o.task ?? 'auto') as ExportTask;
  if (!EXPORT_TASKS.includes(task)) throw new MdmtError('ECONFIG', 'export', `--task must be one of ${EXPORT_TASKS.join(', ')}, got '${o.task}'`);
  const classesIn = o.classes === undefined ? undefined : intFlag(o.classes, NaN);
  if (classesIn !== undefined && (!Number.isInteger(classesIn) || classesIn < 1)) throw new MdmtError('ECONFIG', 'export', `--classes must be a positive integer, got ${o.classes}`);
  let shapes: Map<string, readonly number[]> | null = null;
  if (o.weights) {
    checkWeightsBackbone(o.weights, o.model, 'export', '--model'); // before hundreds of missing keys
    shapes = weightShapes(o.weights);
  }
  const t = task === 'auto' ? (shapes ? inferTask(shapes) : 'imagenet') : task;
  // the heads of the paper's models have fixed widths (τ1 2, τ2 4): a --classes there was ignored
  if (classesIn !== undefined && t !== 'imagenet')
    throw new MdmtError('ECONFIG', 'export', `--classes sets the classifier of --task imagenet; task ${t}${task === 'auto' ? ' (read from the weights)' : ''} has ${t === 'backbone' ? 'no classifier' : 'fixed heads (τ1 2 classes, τ2 4)'}`);
  // the width of the weights' ImageNet classifier, if they have one
  const fileClasses = shapes ? [...shapes].find(([k]) => /^(fc|classifier)(\.1)?\.weight$/.test(k))?.[1][0] : undefined;
  const classes = classesIn ?? (t === 'imagenet' ? fileClasses : undefined);
  // a run's best.safetensors (or its export) is a full model's: backbone.* with its heads
  const fileTask = shapes ? inferTask(shapes) : undefined;
  const fullFile = fileTask === 'mdmt' || fileTask === 'stl_afc' || fileTask === 'stl_bx' ? fileTask : undefined;
  // another task of such a file failed as '336 of 336 keys missing … weights of another architecture?'
  if (fullFile && t !== fullFile && t !== 'backbone')
    throw new MdmtError('ECONFIG', 'export', `${o.weights} holds a full ${fullFile} model's weights (backbone.* and ${fullFile === 'mdmt' ? 'afc_head.*, bx_head.*' : 'head.*'} keys), not those of --task ${t}: give --task ${fullFile} (or leave --task out), or --task backbone for its backbone alone`);
  manualSeed(0);
  let model = buildForExport(o.model, t, classes);
  // --task backbone of such a file: its backbone.* tensors, when they are this backbone's keys
  // (the full model is loaded, strictly, and its backbone exported); else the file is loaded
  // as it is, and a misfit named as one
  let owner = model;
  if (fullFile && t === 'backbone' && sameKeys(model, [...shapes!.keys()].filter((k) => k.startsWith('backbone.')).map((k) => k.slice('backbone.'.length)))) {
    model.dispose();
    owner = buildForExport(o.model, fullFile);
    model = owner.child('backbone');
  }
  try {
    // --task backbone of ImageNet weights (scripts/export_weights.py's files, an --task imagenet
    // export): the classifier model is loaded, strictly, and all its tensors but the classifier's
    // go into the backbone; its classifier read as "layer tensors the model lacks (weights of
    // another architecture?)", or from a .safetensors as "unexpected: fc.weight, fc.bias"
    if (o.weights && fileTask === 'imagenet' && t === 'backbone') loadImagenetBackbone(model, o.model, o.weights, fileClasses);
    else if (o.weights) loadWeightsFile(owner, o.weights, { op: 'export' });
    // the backbone and task travel in the file: importing it (export --weights, predict --weights) needs no --model
    // and the preprocessing the weights were trained with: predict --weights m.onnx warns when it scores otherwise
    const meta = Object.fromEntries(Object.entries({ backbone: o.model, task: t, ...trained }).map(([k, v]) => [k, String(v)]));
    ensureFileDir(o.out, 'export', '--out');
    exportOnnx(model, o.out, { inputShape: [batch, 3, size, size], metadata: meta });
    return { file: o.out, task: t, params: model.numParams(), model: o.model, size };
  } finally {
    owner.dispose();
  }
}
