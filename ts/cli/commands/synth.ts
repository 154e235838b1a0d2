/**
 * `mdmt synth --out DIR [--seed N] [--n-afc N] [--n-bx N] [--size PX]`: writes the synthetic
 * AIforCOVID-like and BRIXIA-like data sets (real layouts) under DIR.
 */
import type { Command } from 'commander';
import { intArg } from '../options';

/** Adds `synth` to the CLI. */
export function register(program: Command): void {
  program
    .command('synth')
    .description('write synthetic AIforCOVID- and BRIXIA-like data sets (DICOM, xlsx/csv sheets, lung masks) in the real layouts')
    .requiredOption('--out <dir>', 'output folder (AIforCOVID/ and BRIXIA/ are created inside)')
    .option('--seed <n>', 'random seed', intArg(0), 0)
    .option('--n-afc <n>', 'AIforCOVID images', intArg(0), 150)
    .option('--n-bx <n>', 'BRIXIA images', intArg(0), 450)
    .option('--size <px>', 'image width in pixels (height = 1.125 × width)', intArg(32), 128)
    .action(async (o: { out: string; seed: number; nAfc: number; nBx: number; size: number }) => {
      const t0 = Date.now();
      const { synth } = await import('../../data/synth');
      const r = await synth(o.out, { seed: o.seed, nAfc: o.nAfc, nBx: o.nBx, size: o.size });
      console.log(`AIforCOVID: ${r.nAfc} images in ${r.afcRoot}`);
      console.log(`BRIXIA:     ${r.nBx} images in ${r.bxRoot}`);
      console.log(`${r.files} files written in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${o.seed})`);
    });
}
