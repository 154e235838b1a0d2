/**
 * One entry point for weight files by extension: `.safetensors` (state_dict keys, e.g.
 * written by scripts/export_weights.py or a checkpoint) or `.onnx` (initializers named by
 * state_dict keys). Strict by default: every missing, unexpected or mis-shaped key is named.
 *
 *   loadWeightsFile(getModel('resnet50'), 'resnet50.safetensors');
 */
import { MdmtError } from '../errors';
import { Module } from '../nn/module';
import { loadOnnxWeights } from './onnx_import';
import { loadSafetensors } from './safetensors';

export function loadWeightsFile(model: Module, file: string, opts: { strict?: boolean } = {}): void {
  if (file.endsWith('.onnx')) {
    loadOnnxWeights(model, file, opts);
    return;
  }
  if (!file.endsWith('.safetensors')) throw new MdmtError('EINVAL', 'loadWeightsFile', `${file}: expected a .safetensors or .onnx file`);
  const { tensors } = loadSafetensors(file);
  try {
    model.loadStateDict(tensors, opts);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
