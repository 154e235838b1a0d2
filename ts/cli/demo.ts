/**
 * `mdmt demo`: the whole protocol in minutes on the CPU. Generates synthetic AIforCOVID and
 * BRIXIA data sets in their real layouts (or uses `--data`: the covid-cxr subset, or a folder
 * holding AIforCOVID/ and BRIXIA/), runs STL τ1, STL τ2, FT and MDMT for three small backbones on
 * a short schedule over a few CV and LOCO folds, writes the report (Tables 1 and 2, per-backbone
 * tables, learning curves and bar charts as SVG) and prints Tables 1 and 2. Everything lands
 * in `--out`; running it again resumes (finished runs are reused). Other settings with the same
 * `--out` are refused before anything trains, naming them: runs trained with other training
 * settings (--epochs, --image-size, ...), synthetic data made with other --n-afc, --n-bx,
 * --synth-size or --seed. Use another --out, or delete the old one.
 *
 *   mdmt demo                                   # synthetic data, ./mdmt-demo
 *   mdmt demo --data ../shared/data/covid-cxr   # the real covid-cxr subset
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureDir } from '../dirs';
import { MdmtError, show } from '../errors';
import { AFC_RELEASES } from '../data/records';
import { synth } from '../data/synth';
import { readSplitFile } from '../data/splits';
import { resolveTrainConfig, type DataConfig, type Protocol, type TrainConfigInput } from '../train/config';
import { ensureSplits, loadRecords, locoCentres } from '../train/data';
import { experiment } from '../train/experiment';
import { onceAcrossJobs, progressHooks, SILENT } from '../train/progress';
import { reportRuns, tablesOf } from './report';

export interface DemoOptions {
  /** output folder: data/, runs/, report/ (default ./mdmt-demo) */
  out: string;
  /** covid-cxr folder, or a folder with AIforCOVID/ and BRIXIA/ (default: synthetic data) */
  data?: string;
  backbones: string[];
  protocols: Protocol[];
  /** folds per protocol (the first CV folds; the LOCO folds with the largest test centres) */
  folds: number;
  kFolds: number;
  imageSize: number;
  batchSize: number;
  epochs: number;
  warmup: number;
  patience: number;
  /** Adam learning rate (default: config.ts's, the paper's) */
  lr?: number;
  /** leave out bad rows and images instead of failing (data.onBadRecord 'skip'; a covid-cxr folder always is) */
  skipBad?: boolean;
  seed: number;
  device?: string;
  /** synthetic data: images per data set and pixel width */
  nAfc: number;
  nBx: number;
  synthSize: number;
  workers: number;
  progress: boolean;
  /** run op by op instead of compiled steps */
  eager?: boolean;
  /** epochs between resume checkpoints (finished runs are reused whatever this is) */
  checkpointEvery?: number;
  log: (msg: string) => void;
}

/** The data settings for `--data` (covid-cxr or AIforCOVID/ + BRIXIA/ roots). */
export function dataConfigFor(dir: string): DataConfig {
  const d = path.resolve(dir);
  if (fs.existsSync(path.join(d, 'labels.csv'))) return { covidCxr: d, onBadRecord: 'skip' };
  const [afc, bx] = ['AIforCOVID', 'BRIXIA'].map((n) => fs.existsSync(path.join(d, n)));
  if (afc && bx) {
    // the AIforCOVID releases whose sheets are there: demo has no --afc-releases, and the
    // reader's hint for a missing sheet named that flag of train and experiment
    const root = path.join(d, 'AIforCOVID');
    const have = Object.keys(AFC_RELEASES).map(Number).filter((r) => fs.existsSync(path.join(root, AFC_RELEASES[r].sheet)));
    const some = have.length > 0 && have.length < Object.keys(AFC_RELEASES).length;
    return { afc: root, bx: path.join(d, 'BRIXIA'), ...(some ? { afcReleases: have } : {}) };
  }
  // a file, or a folder with one of the two data sets: say which, not that it holds neither
  if (fs.existsSync(d) && !fs.statSync(d).isDirectory()) throw new MdmtError('EIO', '--data', `'${d}' is a file, not a folder: give the folder that holds labels.csv (covid-cxr) or AIforCOVID/ and BRIXIA/`);
  if (afc || bx) throw new MdmtError('EIO', '--data', `'${d}' holds ${afc ? 'AIforCOVID/' : 'BRIXIA/'} but no ${afc ? 'BRIXIA/' : 'AIforCOVID/'}: the demo trains both tasks (STL τ1, STL τ2, FT, MDMT); add the other data set's folder, or give a covid-cxr folder (labels.csv)`);
  throw new MdmtError('EIO', '--data', `'${d}' holds neither labels.csv (covid-cxr) nor AIforCOVID/ and BRIXIA/`);
}

/** The demo flag of each synthetic-data setting. */
const SYNTH_FLAGS = { seed: '--seed', nAfc: '--n-afc', nBx: '--n-bx', size: '--synth-size' } as const;

/**
 * Synthetic data already in --out were made with the requested settings: other data under the
 * same runs would mix two data sets (and regenerating them would orphan the trained runs), so
 * a change is an ECONFIG naming the flags, before anything is generated or trained.
 */
function checkSynth(done: string, want: Record<keyof typeof SYNTH_FLAGS, number>, out: string): void {
  let have: Record<string, unknown>;
  try {
    have = JSON.parse(fs.readFileSync(done, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new MdmtError('ECONFIG', 'demo', `${done} is unreadable (${(e as Error).message}): delete ${out}, or use another --out`);
  }
  const diff = (Object.keys(SYNTH_FLAGS) as (keyof typeof SYNTH_FLAGS)[]).filter((k) => have[k] !== want[k]).map((k) => `${SYNTH_FLAGS[k]} ${show(have[k])} → ${want[k]}`);
  if (diff.length)
    throw new MdmtError('ECONFIG', 'demo', `${path.dirname(done)} holds synthetic data made with other settings (stored → requested: ${diff.join(', ')}), and the runs in ${path.join(out, 'runs')} were trained on them: use another --out, or delete ${out}`);
}

/**
 * Runs the demo and returns the report (report.md text, written files) and Tables 1–2 text.
 *
 * @example const r = await runDemo({ ...DEMO_DEFAULTS, out: '/tmp/demo', epochs: 2, progress: false, log: console.error });
 */
export async function runDemo(o: DemoOptions) {
  const out = ensureDir(path.resolve(o.out), 'demo', '--out');
  const synthDir = path.join(out, 'data');
  const data: DataConfig = o.data ? dataConfigFor(o.data) : { afc: path.join(synthDir, 'AIforCOVID'), bx: path.join(synthDir, 'BRIXIA') };
  // the hint of an unreadable image names --skip-bad: demo has it too, as train and experiment
  if (o.skipBad) data.onBadRecord = 'skip';
  const runsDir = path.join(out, 'runs');
  const base: Omit<TrainConfigInput, 'backbone' | 'experiment' | 'outDir'> = {
    data: { ...data, cacheDir: path.join(runsDir, '.cache') }, kFolds: o.kFolds, imageSize: o.imageSize, batchSize: o.batchSize,
    seed: o.seed, workers: o.workers, progress: o.progress, ...(o.device ? { device: o.device } : {}), ...(o.eager ? { eager: true } : {}),
    ...(o.checkpointEvery ? { checkpointEvery: o.checkpointEvery } : {}),
    ...(o.lr !== undefined ? { optim: { lr: o.lr } } : {}),
    schedule: { maxEpochs: o.epochs, warmupEpochs: o.warmup, earlyStopping: o.patience, plateauPatience: Math.max(1, Math.floor(o.patience / 2)) },
  };
  // every training setting is checked (by config.ts) before minutes go into the data
  for (const backbone of o.backbones) resolveTrainConfig({ ...base, backbone, experiment: 'stl_afc', outDir: runsDir });
  if (!o.data) {
    const dir = synthDir, done = path.join(dir, '.complete');
    if (fs.existsSync(done)) checkSynth(done, { seed: o.seed, nAfc: o.nAfc, nBx: o.nBx, size: o.synthSize }, out);
    else {
      o.log(`generating synthetic data (${o.nAfc} AIforCOVID + ${o.nBx} BRIXIA images) in ${dir}`);
      fs.rmSync(dir, { recursive: true, force: true });
      await synth(dir, { seed: o.seed, nAfc: o.nAfc, nBx: o.nBx, size: o.synthSize });
      fs.writeFileSync(done, `${JSON.stringify({ seed: o.seed, nAfc: o.nAfc, nBx: o.nBx, size: o.synthSize })}\n`);
    }
  }
  // LOCO: the held-out centres with the most τ1 test images (tiny centres make 1-image test sets)
  let locoFolds: number[] | undefined;
  if (o.protocols.includes('loco')) {
    const probe = resolveTrainConfig({ ...base, backbone: o.backbones[0], experiment: 'stl_afc', outDir: runsDir, splitsDir: path.join(runsDir, 'splits') });
    const recs = await loadRecords(probe.data);
    const afcDir = ensureSplits(probe.splitsDir, recs, { seed: probe.splitSeed, k: probe.kFolds }).afc!;
    const sizes = locoCentres(afcDir).map((_, i) => ({ i, n: readSplitFile(path.join(afcDir, 'loCo', String(i), 'test.txt')).length }));
    locoFolds = sizes.sort((a, b) => b.n - a.n || a.i - b.i).slice(0, o.folds).map((s) => s.i).sort((a, b) => a - b);
  }
  const t0 = Date.now();
  // the data summary and the random-initialisation notice once, not once per run
  const once = onceAcrossJobs();
  const res = await experiment({
    runsDir, backbones: o.backbones, protocols: o.protocols, foldLimit: o.folds,
    folds: { loco: locoFolds }, base,
    hooksFor: (j, at) => (o.progress ? once.wrap(progressHooks({ label: `[${at.index}/${at.total}] ${j.key}` })) : SILENT),
    log: once.log(o.log),
  });
  o.log(`${res.trained.length} run${res.trained.length === 1 ? '' : 's'} trained, ${res.skipped.length} reused in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const rep = reportRuns(runsDir, { out: path.join(out, 'report'), warmupEpochs: o.warmup });
  const tables = tablesOf(rep.markdown);
  // what the report says above the tables the demo prints (random initialisation: not the paper's numbers)
  for (const w of rep.warnings) if (!tables.includes(w)) o.log(`warning: ${w}`);
  return { ...rep, tables, outcome: res };
}
