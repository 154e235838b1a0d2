/** `mdmt demo`: its flags (defaults below) and dispatch; the work is ../demo.ts (runDemo). */
import * as fs from 'fs';
import * as path from 'path';
import { Option, type Command } from 'commander';
import { MdmtError } from '../../errors';
import { PAPER_OPTIM, PROTOCOLS } from '../../train/config';
import type { DemoOptions } from '../demo';
import { intArg, listArg, numArg, outPath } from '../options';

// Three small backbones so that Table 2 (paired across backbones) has p-values, on a schedule
// that the compiled training steps finish in about a minute and a half on two cores (bench/RESULTS.md).
export const DEMO_DEFAULTS: Omit<DemoOptions, 'log'> = {
  out: 'mdmt-demo', backbones: ['shufflenet_v2_x0_5', 'shufflenet_v2_x1_0', 'mobilenet_v2'], protocols: ['cv', 'loco'], folds: 2, kFolds: 3,
  imageSize: 32, batchSize: 16, epochs: 6, warmup: 2, patience: 4, seed: 0,
  nAfc: 128, nBx: 208, synthSize: 64, workers: 0, progress: true, checkpointEvery: 5,
};

/** Adds `demo` to the CLI. */
export function register(program: Command): void {
  const d = DEMO_DEFAULTS;
  program.command('demo')
    .description('synthetic data (or --data) → STL τ1, STL τ2, FT and MDMT for three small backbones on a short CPU schedule → report with Tables 1 and 2 (p-values across the backbones) and plots')
    .option('--data <dir>', 'covid-cxr folder (labels.csv) or a folder with AIforCOVID/ and BRIXIA/ (default: synthetic data)')
    .option('--out <dir>', 'output folder: data/, runs/, report/; a rerun with the same settings reuses its finished runs, other settings (training flags, --n-afc, --n-bx, --synth-size, --seed) are refused: use another --out', outPath, d.out)
    // lists shown as typed (commander's help printed the default as JSON: ["cv","loco"])
    .addOption(new Option('--backbones <list>', 'comma-separated model names').argParser(listArg()).default(d.backbones, d.backbones.join(',')))
    .addOption(new Option('--protocols <list>', 'cv,loco').argParser(listArg(PROTOCOLS)).default(d.protocols, d.protocols.join(',')))
    .option('--folds <n>', 'folds per protocol', intArg(1), d.folds)
    .option('--k-folds <n>', 'CV folds the data are split into', intArg(), d.kFolds)
    .option('--image-size <n>', 'input side', intArg(), d.imageSize)
    .option('--batch-size <n>', 'batch size', intArg(), d.batchSize)
    .option('--epochs <n>', 'maximum epochs', intArg(), d.epochs)
    .option('--warmup <n>', 'warm-up epochs', intArg(), d.warmup)
    .option('--patience <n>', 'early-stopping patience', intArg(), d.patience)
    .option('--lr <x>', `Adam learning rate (default ${PAPER_OPTIM.lr.toExponential()}, the paper's)`, numArg())
    .option('--seed <n>', 'seed', intArg(), d.seed)
    .option('--device <name>', 'cpu, cuda or cuda:N')
    .option('--n-afc <n>', 'synthetic AIforCOVID images', intArg(12), d.nAfc)
    .option('--n-bx <n>', 'synthetic BRIXIA images', intArg(12), d.nBx)
    .option('--synth-size <n>', 'synthetic image width in pixels', intArg(32), d.synthSize)
    .option('--workers <n>', 'loader worker threads (0 = in-process)', intArg(), d.workers)
    .option('--skip-bad', "leave out bad rows and images instead of failing (data.onBadRecord 'skip'; a covid-cxr --data always does), each named")
    .option('--eager', 'run op by op instead of compiled steps (slower: for comparison and debugging)')
    .option('--no-progress', 'no progress bars')
    .action(async (o: Record<string, unknown>) => {
      const data = o.data as string | undefined;
      if (data !== undefined && !fs.existsSync(data)) throw new MdmtError('ECONFIG', '--data', `'${data}' does not exist`);
      const { runDemo } = await import('../demo');
      const r = await runDemo({ ...(o as unknown as DemoOptions), log: (m) => process.stderr.write(`mdmt demo: ${m}\n`) });
      const note = new Set(r.results.map((x) => x.backbone)).size < 2
        ? '\nTable 2 pairs backbones (one-tailed paired tests across backbones): with one backbone it has no p-values; add some, e.g. --backbones shufflenet_v2_x0_5,mobilenet_v2,resnet18.\n' : '';
      process.stdout.write(`\n${r.tables}\n${note}\nreport: ${r.files[0]}\nplots:  ${path.join(r.out, 'plots')}\n`);
    });
}
