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
import { MdmtError } from '../errors';
import { listModels } from '../models/zoo';
import { Module } from '../nn/module';
import { nonFiniteWeights } from '../train/finite';
import { loadOnnxWeights, readOnnxInitializers } from './onnx_import';
import { loadSafetensors, readSafetensorsMetadata } from './safetensors';

const CHECKPOINT_FORMAT = /^mdmt-checkpoint/;
const checkpointError = (file: string, op: string) =>
  new MdmtError('EDATA', op, `${file} is a resume checkpoint (model.* weights with the Adam state), not a weights file: use the run's best.safetensors`);

/**
 * Loads `file` into `model`, then refuses (EDATA, naming the file and the tensor) weights
 * holding a NaN or ±inf, as train() refuses such an init file: a NaN weight scored every image
 * as MILD with P(SEVERE) null and exported without a word. `op` names the caller in errors.
 */
export function loadWeightsFile(model: Module, file: string, opts: { strict?: boolean; op?: string } = {}): void {
  const op = opts.op ?? 'loadWeightsFile';
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
  // the loaded state under the file's own keys (state_dict names), parameters and buffers
  const bad = nonFiniteWeights(op, 'weights file', file, [...model.stateDict()]);
  if (bad) throw bad;
}

/**
 * The backbone a weights file records in its metadata, or undefined (ONNX, files of other
 * tools): `backbone` (a run's best.safetensors) or `model` (scripts/export_weights.py's ImageNet
 * files) when it names a registered model; a file whose two fields disagree is refused. A
 * resume checkpoint is refused by name.
 *
 *   weightsBackbone('runs/x/best.safetensors') // 'resnet18'
 *   weightsBackbone('weights/efficientnet_es.safetensors') // 'efficientnet_es'
 */
export function weightsBackbone(file: string, op = 'loadWeightsFile'): string | undefined {
  if (!file.endsWith('.safetensors')) return undefined;
  const m = readSafetensorsMetadata(file);
  if (CHECKPOINT_FORMAT.test(m.format ?? '')) throw checkpointError(file, op);
  const model = m.model && listModels().includes(m.model) ? m.model : undefined;
  if (m.backbone && model && m.backbone !== model)
    throw new MdmtError('EDATA', op, `${file}: its metadata names two architectures, backbone '${m.backbone}' and model '${model}'`);
  return m.backbone || model;
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
