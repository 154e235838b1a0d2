/** `mdmt inspect <file>`: dispatch; the work is ../inspect.ts (inspectFile). */
import type { Command } from 'commander';

/** Adds `inspect` to the CLI. */
export function register(program: Command): void {
  program
    .command('inspect <file>')
    .description('decode one DICOM/PNG/JPEG/TIFF/WebP image and print size, photometric interpretation, bits, transfer syntax, DICOM display window and LUT sequences (shown, not applied), min/max; or describe a weights file (.safetensors, .onnx): backbone, heads, tensors, metadata')
    .action(async (file: string) => {
      const { inspectFile } = await import('../inspect');
      for (const l of await inspectFile(file)) console.log(l);
    });
}
