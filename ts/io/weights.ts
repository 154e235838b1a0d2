/**
 * One entry point for weight files by extension: `.safetensors` (state_dict keys, e.g.
 * written by scripts/export_weights.py or a run's best.safetensors) or `.onnx` (initializers
 * named by state_dict keys). Strict by default: missing, unexpected and mis-shaped keys are
 * named. A run's resume checkpoint (model.* and optim.* tensors) is refused by name, and
 * the backbone a best.safetensors records in its metadata is checked against the one asked
 * for, so a mismatch reads "holds shufflenet_v2_x0_5 weights", not 300 missing keys.
 *
 *   loadWeightsFile(getModel('resnet50'), 'resnet50.safetensors');
 */
import * as fs from 'fs';
import * as path from 'path';
import { check, checkPath, kindOf, MdmtError } from '../errors';
import { listModels } from '../models/zoo';
import { Module } from '../nn/module';
import { nonFiniteWeights } from '../train/finite';
import { loadOnnxWeights, readOnnxInitializers, readOnnxModel } from './onnx_import';
import { loadSafetensors, readSafetensorsMetadata } from './safetensors';

const CHECKPOINT_FORMAT = /^mdmt-checkpoint/;
const checkpointError = (file: string, op: string) =>
  new MdmtError('EDATA', op, `${file} is a resume checkpoint (model.* weights with the Adam state), not a weights file: use the run's best.safetensors`);

/** A weights file argument: a path, not a number (an open file descriptor to fs) or undefined. */
const checkFile = (file: unknown, op: string): void => checkPath(op, file, 'the path of a .safetensors or .onnx file');

/**
 * Refuses (ECONFIG, naming `flag` and the file) a weights path that is missing, a folder (a run
 * directory named as weights read as "names no backbone in its metadata", or failed with a raw
 * EISDIR) or of another kind than .safetensors / .onnx, before anything is read or built.
 */
export function checkWeightsPath(file: string, op: string, flag: string): void {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new MdmtError('EIO', op, `${flag} '${file}' does not exist`);
  if (st.isDirectory()) {
    const run = fs.existsSync(path.join(file, 'config.json')) && fs.existsSync(path.join(file, 'best.safetensors'));
    throw new MdmtError('ECONFIG', op, `${flag} '${file}' is a folder, not a weights file${run ? `: it is a run directory, whose weights are ${path.join(file, 'best.safetensors')}` : ''}`);
  }
  if (!/\.(safetensors|onnx)$/.test(file)) throw new MdmtError('ECONFIG', op, `${flag} '${file}' must be a .safetensors or .onnx file (state_dict keys), got ${path.extname(file) || 'no extension'}`);
}

/**
 * Loads `file` into `model`, then refuses (EDATA, naming the file and the tensor) weights
 * holding a NaN or ±inf, as train() refuses such an init file: a NaN weight scored every image
 * as MILD with P(SEVERE) null and exported without a word. `op` names the caller in errors.
 */
export function loadWeightsFile(model: Module, file: string, opts: { strict?: boolean; op?: string } = {}): void {
  const op = opts.op ?? 'loadWeightsFile';
  // a null model or a numeric file was a raw TypeError (model.loadStateDict, file.endsWith)
  check(model instanceof Module, 'EINVAL', op, () => `needs a Module to load into, got ${kindOf(model)}`);
  checkFile(file, op);
  try {
    if (file.endsWith('.onnx')) loadOnnxWeights(model, file, opts);
    else {
      if (!file.endsWith('.safetensors')) throw new MdmtError('EINVAL', op, `${file}: expected a .safetensors or .onnx file`);
      const { tensors, metadata } = loadSafetensors(file);
      try {
        if (CHECKPOINT_FORMAT.test(metadata.format ?? '')) throw checkpointError(file, op);
        model.loadStateDict(tensors, opts);
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    }
  } catch (e) {
    // loadStateDict's key lists named no file: "export: unexpected: fc.weight, fc.bias"
    if (e instanceof MdmtError && e.code === 'ESHAPE' && !e.detail.includes(file)) throw new MdmtError('ESHAPE', op, `${file}: ${e.detail}`);
    throw e;
  }
  // the loaded state under the file's own keys (state_dict names), parameters and buffers
  const bad = nonFiniteWeights(op, 'weights file', file, [...model.stateDict()]);
  if (bad) throw bad;
}

/**
 * The backbone a weights file records in its metadata, or undefined (files of other tools):
 * `backbone` (a run's best.safetensors, an ONNX file of mdmt export) or `model`
 * (scripts/export_weights.py's ImageNet files) when it names a registered model; a file whose two fields disagree is refused. A
 * resume checkpoint is refused by name.
 *
 *   weightsBackbone('runs/x/best.safetensors') // 'resnet18'
 *   weightsBackbone('weights/efficientnet_es.safetensors') // 'efficientnet_es'
 */
export function weightsBackbone(file: string, op = 'loadWeightsFile'): string | undefined {
  checkFile(file, op);
  // mdmt export writes the backbone into the ONNX file's metadata_props
  if (file.endsWith('.onnx')) return onnxBackbone(file);
  if (!file.endsWith('.safetensors')) return undefined;
  const m = readSafetensorsMetadata(file);
  if (CHECKPOINT_FORMAT.test(m.format ?? '')) throw checkpointError(file, op);
  const model = m.model && listModels().includes(m.model) ? m.model : undefined;
  if (m.backbone && model && m.backbone !== model)
    throw new MdmtError('EDATA', op, `${file}: its metadata names two architectures, backbone '${m.backbone}' and model '${model}'`);
  return m.backbone || model;
}

/** The registered backbone an ONNX file's metadata_props name (mdmt export writes it), or undefined. */
function onnxBackbone(file: string): string | undefined {
  const b = readOnnxModel(file).metadata_props?.find((p) => p.key === 'backbone')?.value;
  return b && listModels().includes(b) ? b : undefined;
}

/** Refuses `backbone` (ECONFIG) when the file's metadata names another one; returns the file's own. */
export function checkWeightsBackbone(file: string, backbone: string, op: string, flag = 'backbone'): string | undefined {
  const own = weightsBackbone(file, op);
  if (own && own !== backbone) throw new MdmtError('ECONFIG', op, `${file} holds ${own} weights (its metadata says so), not ${backbone}: give ${flag} ${own}`);
  return own;
}

/**
 * The model whose keys the weights carry: MDMT (afc_head.*), a single-task model (head.*: 2
 * outputs τ1, else τ2), an ImageNet classifier (fc / classifier), or a bare backbone.
 */
export function inferTask(keys: Map<string, readonly number[]>): 'mdmt' | 'stl_afc' | 'stl_bx' | 'imagenet' | 'backbone' {
  if ([...keys.keys()].some((k) => k.startsWith('afc_head.'))) return 'mdmt';
  // STLModel's heads by their structure: τ1 Dropout-Linear (head.1), τ2 ReLU-Dropout-Linear
  // (head.2). Their widths are checked on loading: a 3-class head.1 read as τ2 was named as
  // head.2.weight missing, not as the mis-shaped head.1.weight it is
  if (keys.has('head.1.weight')) return 'stl_afc';
  if (keys.has('head.2.weight')) return 'stl_bx';
  const head = [...keys].find(([k]) => k.startsWith('head.') && k.endsWith('.weight'));
  if (head) return head[1][0] === 2 ? 'stl_afc' : 'stl_bx';
  if ([...keys.keys()].some((k) => /^(fc|classifier)(\.1)?\.weight$/.test(k))) return 'imagenet';
  return 'backbone';
}

/** The shapes of a weights file's tensors by key (the file is read, then freed). */
export function weightShapes(file: string): Map<string, readonly number[]> {
  const ts = file.endsWith('.onnx') ? readOnnxInitializers(file) : loadSafetensors(file).tensors;
  const out = new Map([...ts].map(([k, t]) => [k, t.shape] as [string, readonly number[]]));
  for (const t of ts.values()) t.dispose();
  return out;
}
