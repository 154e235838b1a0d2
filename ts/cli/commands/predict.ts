/** `mdmt predict`: its flags and dispatch; the work is ../predict.ts (runPredict). */
import { Option, type Command } from 'commander';
import { PAPER_RUN } from '../../train/config';
import { EXIT, existingPath, intArg, outPath } from '../options';

/** Adds `predict` to the CLI. */
export function register(program: Command): void {
  program.command('predict')
    .description('score new X-rays with a trained run (or weights): P(SEVERE), BRIXIA bin probabilities, classes; --explain writes Grad-CAM overlays')
    .argument('<images...>', 'image files (DICOM, PNG, JPEG, TIFF, WebP) and folders (walked recursively)')
    .option('--run <dir>', 'a run directory (config.json, best.safetensors; a finished run\'s result.json gives the calibration, an unfinished run is scored uncalibrated with a warning)', existingPath)
    .option('--weights <file>', 'weights (.safetensors or .onnx with state_dict keys) instead of a run', existingPath)
    .option('--backbone <name>', 'with --weights: the backbone (default: the one the file names, as a run\'s best.safetensors does)')
    .addOption(new Option('--task <task>', 'with --weights: the heads (auto: from the weights keys)').choices(['auto', 'mdmt', 'stl_afc', 'stl_bx']).default('auto'))
    .option('--image-size <n>', `with --weights: input side (default: the size the weights' metadata records, else ${PAPER_RUN.imageSize}; a run uses its own)`, intArg(16))
    .option('--no-imagenet-normalize', 'with --weights: no ImageNet mean/std (a run uses its own setting)')
    .option('--out <file>', 'write the table to FILE.csv or FILE.json (default: CSV on stdout)', outPath)
    .option('--masks <dir>', 'lung masks: the file with the image\'s base name (any image extension) gives the lung crop', existingPath)
    .option('--explain', 'write a Grad-CAM overlay PNG per image (last convolutional stage)')
    .addOption(new Option('--explain-task <task>', 'the head Grad-CAM explains (default afc when the model has it)').choices(['afc', 'bx']))
    .option('--explain-class <n>', 'the class explained (default: SEVERE for afc, the predicted bin for bx)', intArg(0))
    .option('--heatmaps <dir>', 'where the overlays go (default <out stem>-heatmaps next to --out, or ./heatmaps)', outPath)
    .option('--no-calibration', 'raw softmax probabilities (no temperature scaling)')
    .option('--batch-size <n>', 'images per batch (default 16)', intArg(1))
    .option('--workers <n>', 'decoding worker threads (default 0: in-process)', intArg(0))
    .option('--device <name>', 'cpu, cuda or cuda:N (default $MDMT_DEVICE or cpu)')
    .option('--no-progress', 'no progress line')
    .action(async (images: string[], o: Record<string, unknown>) => {
      const { runPredict } = await import('../predict');
      const { code } = await runPredict(images, o);
      if (code !== EXIT.ok) process.exitCode = code;
    });
}
