/** `mdmt export`: its flags and dispatch; the work is ../export.ts (runExport). */
import type { Command } from 'commander';
import { listModels } from '../../models/zoo';
import { PAPER_RUN } from '../../train/config';
import type { ExportCliOptions } from '../export';
import { EXPORT_TASKS, outPath } from '../options';

/** Adds `export` to the mdmt CLI. */
export function register(program: Command): void {
  program
    .command('export')
    .description('export a model (eval mode) to ONNX, opset 17, loadable by onnxruntime')
    .option('--model <name>', `registered backbone (${listModels().join(', ')}); default: the one --weights names in its metadata`)
    .requiredOption('--out <file>', 'output .onnx file', outPath)
    .option('--weights <file>', 'weights to load first (.safetensors or .onnx, state_dict keys)')
    .option('--task <task>', `model to build: ${EXPORT_TASKS.join(' | ')} (backbone of a run's weights: its trained backbone alone; of ImageNet weights: without the classifier)`, 'auto')
    .option('--size <n>', `input height and width (default: the image size --weights were trained at, as their metadata records it, else ${PAPER_RUN.imageSize})`)
    .option('--batch <n>', 'traced batch size (the ONNX batch dimension stays symbolic)', '1')
    .option('--classes <n>', 'ImageNet-style classifier outputs (default: from the weights, else 1000)')
    .action(async (o: ExportCliOptions) => {
      const { runExport } = await import('../export');
      const r = runExport(o);
      console.log(`wrote ${r.file} (${r.model}, task ${r.task}, ${r.params} parameters, input N×3×${r.size}×${r.size})`);
    });
}
