/** `mdmt doctor`: dispatch; the report is ../doctor.ts (diagnose). */
import type { Command } from 'commander';

/** Adds `doctor` to the CLI. */
export function register(program: Command): void {
  program.command('doctor')
    .description('print the backends and devices (CPU ISA/threads, CUDA availability and why not, driver and runtime), the GPU libraries found at run time (cuDNN, cuBLAS: version and file, or where mdmt looked), the addon path and the Node version')
    .action(async () => {
      const { diagnose } = await import('../doctor');
      const d = diagnose();
      process.stdout.write(d.lines.join('\n') + '\n');
      if (!d.ok) process.exitCode = 1;
    });
}
