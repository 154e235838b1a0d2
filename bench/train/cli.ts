/**
 * `npm run bench:train` (second part): `mdmt train` end to end, compiled steps (the default)
 * against `--eager`, alternating in one run: resnet18 by default, 128 px, batch 8, STL τ1 on
 * synthetic data (generated once), a few epochs, the preprocessing cache warmed first so both
 * engines see the same cached data. Wall time per run; the ratio of medians. It reads its own
 * settings, not step.ts's BENCH_MODELS; BENCH_CLI=0 skips it (exit 0).
 *   BENCH_CLI_MODEL=resnet18 BENCH_CLI_EPOCHS=2 BENCH_CLI_ROUNDS=2 npm run bench:train
 * The temporary folder (synthetic data, cache, runs: ~190 MB) is removed however it ends.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listModels } from '../../ts/models/zoo';
import { native, packageRoot } from '../../ts/native/binding';
import { parseSettings } from '../lib/args';
import { loadAverage, median, printPreamble } from '../lib/report';

const cfg = parseSettings('bench/train/cli', (a) => ({
  run: a.flag('BENCH_CLI', true),
  model: a.choice('BENCH_CLI_MODEL', 'resnet18', listModels()),
  epochs: a.int('BENCH_CLI_EPOCHS', 2, { min: 1 }),
  rounds: a.int('BENCH_CLI_ROUNDS', 2, { min: 1 }),
}));
const MODEL = cfg.model, EPOCHS = String(cfg.epochs), ROUNDS = cfg.rounds;
const bin = path.join(packageRoot(), 'bin', 'mdmt.js');

/** CPU seconds of this process's waited-for children (Linux /proc: cutime + cstime, in clock ticks of 1/100 s); NaN elsewhere. */
function childCpu(): number {
  try {
    const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(f[13]) + Number(f[14])) / 100; // fields 16 and 17 of stat(5), counted from the state field (3)
  } catch {
    return NaN;
  }
}

/** Runs mdmt; returns [wall seconds, CPU seconds of the run (all threads; less distorted by a loaded machine)]. */
function mdmt(args: string[]): [number, number] {
  const t = Date.now(), c = childCpu();
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mdmt ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-500)}`);
  return [(Date.now() - t) / 1000, childCpu() - c];
}

function main(work: string): void {
  const data = path.join(work, 'data');
  mdmt(['synth', '--out', data, '--n-afc', '160', '--n-bx', '8', '--size', '160']);
  const cache = path.join(work, 'cache');
  const flags = ['train', '--backbone', MODEL, '--experiment', 'stl_afc', '--data-afc', path.join(data, 'AIforCOVID'), '--image-size', '128', '--batch-size', '8',
    '--epochs', EPOCHS, '--warmup', '0', '--workers', '1', '--cache-dir', cache, '--no-progress'];
  mdmt([...flags, '--epochs', '1', '--out', path.join(work, 'warm')]); // fills the preprocessing cache
  const t: Record<'planned' | 'eager', [number, number][]> = { planned: [], eager: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of (r % 2 ? ['eager', 'planned'] : ['planned', 'eager']) as ('planned' | 'eager')[]) {
      t[e].push(mdmt([...flags, '--out', path.join(work, `${e}${r}`), ...(e === 'eager' ? ['--eager'] : [])]));
    }
  }
  const med = (e: 'planned' | 'eager', i: 0 | 1) => median(t[e].map((x) => x[i]));
  console.log(`# mdmt train ${MODEL} stl_afc, 128 px, batch 8, ${EPOCHS} epochs, synthetic (160 τ1 images); load ${loadAverage()}`);
  console.log(`| engine | wall s (median of ${ROUNDS}) | CPU s |\n|---|---|---|\n| default (compiled) | ${med('planned', 0).toFixed(1)} | ${med('planned', 1).toFixed(1)} |\n| --eager | ${med('eager', 0).toFixed(1)} | ${med('eager', 1).toFixed(1)} |`);
  console.log(`default vs --eager: ${(med('eager', 0) / med('planned', 0)).toFixed(2)}× wall, ${(med('eager', 1) / med('planned', 1)).toFixed(2)}× CPU`);
}

if (!cfg.run) {
  console.log('[skip] bench/train/cli: BENCH_CLI=0');
} else {
  printPreamble(native().setThreads());
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-bench-cli-'));
  try {
    main(work);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
