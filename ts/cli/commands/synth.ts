/**
 * `mdmt synth --out DIR [--seed N] [--n-afc N] [--n-bx N] [--size PX] [--force]`: writes the
 * synthetic AIforCOVID-like and BRIXIA-like data sets (real layouts) under DIR, an empty or new
 * folder; --force replaces the data set an earlier `mdmt synth` wrote there.
 */
import type { Command } from 'commander';
import { intArg, outPath } from '../options';

/** Adds `synth` to the CLI. */
export function register(program: Command): void {
  program
    .command('synth')
    .description('write synthetic AIforCOVID- and BRIXIA-like data sets (DICOM, xlsx/csv sheets, lung masks) in the real layouts')
    .requiredOption('--out <dir>', 'output folder, empty or new (AIforCOVID/ and BRIXIA/ are created inside)', outPath)
    .option('--seed <n>', 'random seed', intArg(0), 0)
    .option('--n-afc <n>', 'AIforCOVID images', intArg(0), 150)
    .option('--n-bx <n>', 'BRIXIA images', intArg(0), 450)
    .option('--size <px>', 'image width in pixels (height = 1.125 × width)', intArg(32), 128)
    .option('--force', "delete and rewrite the AIforCOVID/ and BRIXIA/ folders an earlier mdmt synth wrote in --out, with everything in them (other entries of --out are left alone; folders synth did not write are refused)")
    .action(async (o: { out: string; seed: number; nAfc: number; nBx: number; size: number; force?: boolean }) => {
      const t0 = Date.now();
      const { synth } = await import('../../data/synth');
      const r = await synth(o.out, { seed: o.seed, nAfc: o.nAfc, nBx: o.nBx, size: o.size, overwrite: !!o.force });
      console.log(`AIforCOVID: ${r.nAfc} images in ${r.afcRoot}`);
      console.log(`BRIXIA:     ${r.nBx} images in ${r.bxRoot}`);
      console.log(`${r.files} files written in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${o.seed})`);
      const next = nextCommand(r);
      if (next) console.log(`next: ${next}`);
    });
}

/**
 * What a newcomer runs next (they had to guess the flags): a single-task run on the data set
 * that has images, the sweep only when both have (with --n-afc 0 the line suggested a τ1 run
 * on an empty AIforCOVID).
 */
export function nextCommand(r: { afcRoot: string; bxRoot: string; nAfc: number; nBx: number }): string | undefined {
  const run = (data: string, task: 'stl_afc' | 'stl_bx') =>
    `mdmt train ${data} --backbone shufflenet_v2_x0_5 --experiment ${task} --image-size 64 --batch-size 8 --epochs 4 --warmup 1 --out runs/${task}`;
  const afc = shellWord(r.afcRoot), bx = shellWord(r.bxRoot);
  if (r.nAfc > 0 && r.nBx > 0)
    return `${run(`--data-afc ${afc} --data-bx ${bx}`, 'stl_afc')} (or mdmt experiment --data-afc … --data-bx … --runs runs; --help for every flag)`;
  if (r.nAfc > 0) return `${run(`--data-afc ${afc}`, 'stl_afc')} (--help for every flag)`;
  if (r.nBx > 0) return `${run(`--data-bx ${bx}`, 'stl_bx')} (--help for every flag)`;
  return undefined;
}

/** A path as one word of a POSIX shell command (copied from the hint, `--out 'my data'/…` split at the space). */
export function shellWord(p: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}
