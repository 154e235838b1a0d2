/**
 * Loader throughput: images per second through decode + preprocess + augment (training
 * path) for 256² outputs from DICOM sources, cold (every image decoded) and cached (the
 * preprocessed uint16 images reused; only augmentation + normalisation left), with 1..N
 * worker threads. Sources: synthetic chest DICOMs at a clinical-like size (explicit VR LE,
 * 12 bits, with lung masks) and the shared real samples (J2K, JPEG-LS, raw, 8-bit).
 *
 *   npm run bench:data -- [--src 1024] [--n 48] [--repeat 1] [--batch 32] [--workers 1,2] [--write]
 * --repeat lists every image R times under distinct ids (distinct cache keys, so the cold
 * pass decodes each copy); --write appends the table to bench/RESULTS.md. The synthetic set
 * goes to a temporary folder, removed however the run ends.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Loader } from '../../ts/data/loader';
import { readBrixia } from '../../ts/data/readers';
import { DataRecord } from '../../ts/data/records';
import { synth } from '../../ts/data/synth';
import { parseSettings } from '../lib/args';
import { gitCommit, loadAverage, printPreamble } from '../lib/report';

const cfg = parseSettings('bench/data/loader', (a) => ({
  src: a.int('--src', 1024, { min: 32, max: 2048 }), // synth()'s range
  n: a.int('--n', 48, { min: 1 }),
  batch: a.int('--batch', 32, { min: 1 }),
  repeat: a.int('--repeat', 1, { min: 1 }),
  workers: a.ints('--workers', [1, Math.max(1, os.cpus().length - 1), os.cpus().length].filter((v, i, all) => all.indexOf(v) === i), { min: 1 }),
  write: a.flag('--write'),
}));
const SRC = cfg.src, N = cfg.n, BATCH = cfg.batch, REPEAT = cfg.repeat, WORKERS = cfg.workers;
const SIZE = 256;

async function rate(recs: DataRecord[], workers: number, cache: 'none' | 'memory', epochs: number[]): Promise<number> {
  const l = new Loader(recs, { size: SIZE, batchSize: BATCH, train: true, workers, cache, seed: 0, log: () => {} });
  let n = 0;
  let t0 = 0;
  for (const [k, e] of epochs.entries()) {
    if (k === epochs.length - 1) t0 = performance.now(); // time only the last listed epoch
    for await (const b of l.epoch(e)) if (k === epochs.length - 1) n += b.n;
  }
  const dt = (performance.now() - t0) / 1000;
  await l.close();
  return n / dt;
}

function sharedSamples(): DataRecord[] {
  const dir = process.env.MDMT_SHARED_DATA ? path.join(process.env.MDMT_SHARED_DATA, 'dicom-samples') : path.resolve(__dirname, '../../../shared/data/dicom-samples');
  const alt = path.resolve(process.cwd(), '../shared/data/dicom-samples');
  const d = fs.existsSync(dir) ? dir : alt;
  if (!fs.existsSync(d)) return [];
  const files = fs.readdirSync(d).filter((f) => f.endsWith('.dcm'));
  // each file several times under distinct ids, so the cold pass decodes every one
  return Array.from({ length: 4 * REPEAT }, (_, k) => files.map((f) => ({
    id: `${f}#${k}`, task: 'BX' as const, source: 'samples', image: path.join(d, f), center: 'x', label: 0, labelName: '0', where: f,
  }))).flat();
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-bench-'));
  try {
    await measure(tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function measure(tmp: string): Promise<void> {
  printPreamble(Math.max(...WORKERS));
  const t = performance.now();
  const { bxRoot } = await synth(tmp, { seed: 0, nAfc: 0, nBx: N, size: SRC });
  console.log(`synthetic set: ${N} DICOMs ${SRC}×${Math.round(SRC * 1.125)} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const synthRecs = (await readBrixia(bxRoot)).records.flatMap((r) => Array.from({ length: REPEAT }, (_, k) => ({ ...r, id: `${r.id}#${k}` })));
  const sets: [string, DataRecord[]][] = [[`synthetic ${SRC}×${Math.round(SRC * 1.125)} explicit LE 12-bit + mask, ${synthRecs.length} records`, synthRecs]];
  const samples = sharedSamples();
  if (samples.length) sets.push(['shared samples (440² raw, 1024² 8-bit, 1841×1955 J2K and JPEG-LS), no mask', samples]);
  const rows: string[] = [];
  console.log(`batch ${BATCH}, output ${SIZE}², training path (augmentation on)\n\n| source | workers | cold img/s | cached img/s |\n|---|---|---|---|`);
  for (const [name, recs] of sets) {
    for (const w of WORKERS) {
      const cold = await rate(recs, w, 'none', [0]);
      const cached = await rate(recs, w, 'memory', [0, 1, 2]);
      const line = `| ${name} | ${w} | ${cold.toFixed(1)} | ${cached.toFixed(0)} |`;
      console.log(line);
      rows.push(line);
    }
  }
  console.log(`# load at the end ${loadAverage()}`);
  if (cfg.write) {
    const commit = gitCommit();
    const cpu = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length} cores, Node ${process.version}`;
    const md = [
      '', `### Loader run ${new Date().toISOString().slice(0, 16)}Z — ${cpu}`, '',
      `Command: \`npx tsx bench/data/loader.ts ${process.argv.slice(2).join(' ')}\` · commit ${commit} · batch ${BATCH}, output ${SIZE}², training path (augmentation on)`, '',
      '| source | workers | cold img/s | cached img/s |', '|---|---|---|---|', ...rows, '',
    ].join('\n');
    let root = __dirname;
    while (!fs.existsSync(path.join(root, 'package.json')) && path.dirname(root) !== root) root = path.dirname(root);
    // runs go at the end of the '## Data loader' section (created when missing)
    const file = path.join(root, 'bench', 'RESULTS.md');
    let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n';
    if (!text.includes('\n## Data loader')) text = `${text.trimEnd()}\n\n## Data loader\n`;
    const at = text.indexOf('\n## Data loader');
    const next = text.indexOf('\n## ', at + 1);
    const end = next < 0 ? text.length : next;
    text = `${text.slice(0, end).trimEnd()}\n${md}${next < 0 ? '' : '\n'}${text.slice(end)}`;
    fs.writeFileSync(file, text);
    console.log('added to the Data loader section of bench/RESULTS.md');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
