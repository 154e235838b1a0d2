/**
 * `mdmt inspect` of a weights file (.safetensors, .onnx): what it holds and what mdmt would build
 * from it, so that a file can be checked before `predict --weights` or `export --weights` (an
 * image decoder read one as a DICOM with a corrupt element length). Tensors are counted from
 * the file's keys and shapes; nothing is built.
 *
 *   mdmt inspect runs/x/best.safetensors   # format, backbone, heads, tensors, metadata
 */
import { onnxMetadata, readOnnxModel } from '../io/onnx_import';
import type { OnnxValueInfo } from '../io/onnx_proto';
import { readSafetensorsMetadata } from '../io/safetensors';
import { inferTask, weightShapes } from '../io/weights';

/** Weights files go by their extension: neither format has a signature to read. */
export const isWeightsFile = (file: string): boolean => /\.(safetensors|onnx)$/i.test(file);

const MODEL: Record<ReturnType<typeof inferTask>, string> = {
  mdmt: 'MDMT (afc_head.*: τ1, bx_head.*: τ2)',
  stl_afc: 'single-task τ1 (head.*)',
  stl_bx: 'single-task τ2 (head.*)',
  imagenet: 'ImageNet classifier (fc / classifier): not a model predict scores',
  backbone: 'a bare backbone (no head): not a model predict scores',
};

/** A metadata value shortened for one line (a checkpoint's state and RNG are long JSON). */
const short = (s: string) => {
  const v = s.replace(/\s+/g, ' ');
  return v.length > 60 ? `${v.slice(0, 57)}... (${s.length} chars)` : v;
};

const shapeOf = (v: OnnxValueInfo) => v.type.tensor_type.shape.dim.map((d) => ('dim_param' in d ? d.dim_param : d.dim_value)).join('×');

/** Returns the lines `mdmt inspect` prints for a .safetensors or .onnx file. */
export function inspectWeights(file: string): string[] {
  const onnx = file.toLowerCase().endsWith('.onnx');
  const m = onnx ? readOnnxModel(file) : undefined;
  const meta = m ? onnxMetadata(m) : readSafetensorsMetadata(file);
  const checkpoint = /^mdmt-checkpoint/.test(meta.format ?? '');
  const shapes = weightShapes(file);
  const values = [...shapes.values()].reduce((a, s) => a + s.reduce((p, d) => p * d, 1), 0);
  const lines = [
    `file:        ${file}`,
    m ? `format:      ONNX (opset ${m.opset_import.map((o) => o.version).join(', ')}, IR ${m.ir_version}, written by ${[m.producer_name, m.producer_version].filter(Boolean).join(' ') || 'an unnamed producer'})`
      : `format:      safetensors${meta.format ? ` (${meta.format})` : ''}`,
  ];
  // a resume checkpoint's keys are model.* and optim.*: no model to name, and loading it as weights is refused
  if (checkpoint) lines.push(`model:       none: a resume checkpoint (model.* weights with the Adam state); predict and export take the run's best.safetensors`);
  else lines.push(`model:       ${meta.backbone || meta.model || 'backbone not named in the file'}, ${MODEL[inferTask(shapes)]}`);
  if (m) {
    lines.push(`inputs:      ${m.graph.input.map((v) => `${v.name} ${shapeOf(v)}`).join(', ')}`);
    lines.push(`outputs:     ${m.graph.output.map((v) => `${v.name} ${shapeOf(v)}`).join(', ')}`);
    lines.push(`nodes:       ${m.graph.node.length}`);
  }
  lines.push(`tensors:     ${shapes.size} (${values.toLocaleString('en-US')} values)`);
  // an eval-mode torch.onnx.export: read above as the classifier it kept (fc.*), though no other layer loads
  const renamed = [...shapes.keys()].filter((k) => k.startsWith('onnx::'));
  if (renamed.length) lines.push(`note:        ${renamed.length} tensors named by the exporter, not by state_dict keys (${renamed[0]}, ...): BatchNorm folded into the convolutions by an eval-mode torch.onnx.export; mdmt cannot load them (export with training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)`);
  for (const [k, v] of Object.entries(meta)) if (k !== 'format') lines.push(`metadata:    ${k} = ${short(v)}`);
  return lines;
}
