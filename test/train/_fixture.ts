/**
 * Fixtures of the training suites: one tiny synthetic data set per process (48 AIforCOVID +
 * 64 BRIXIA images of 32 px), temporary folders, and the tiny training settings every suite
 * shares (32 px inputs, batch 8, 3 CV folds, a few epochs), so the whole training test set
 * stays within minutes on 2 cores.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { synth } from '../../ts/data/synth';
import type { TrainConfigInput } from '../../ts/train/config';

const made: string[] = [];
process.on('exit', () => {
  if (process.env.MDMT_KEEP_TMP === '1') return;
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the process exits (MDMT_KEEP_TMP=1 keeps it). */
export function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `mdmt-${tag}-`));
  made.push(d);
  return d;
}

let fixture: Promise<{ afc: string; bx: string; root: string }> | undefined;
/** The tiny synthetic data set (made once per process). */
export function tinyData(): Promise<{ afc: string; bx: string; root: string }> {
  fixture ??= (async () => {
    const root = tmpDir('train-data');
    const r = await synth(root, { seed: 3, nAfc: 48, nBx: 64, size: 32 });
    return { afc: r.afcRoot, bx: r.bxRoot, root };
  })();
  return fixture;
}

/** Tiny train() settings on the fixture data (no augmentation randomness is removed: it is seeded). */
export async function tinyBase(): Promise<Omit<TrainConfigInput, 'backbone' | 'experiment' | 'outDir'>> {
  const d = await tinyData();
  return {
    data: { afc: d.afc, bx: d.bx }, imageSize: 32, batchSize: 8, kFolds: 3, workers: 0, progress: false,
    schedule: { maxEpochs: 3, warmupEpochs: 1, earlyStopping: 5, plateauPatience: 1 },
  };
}

/** The smallest registered backbone the suites train. */
export const BACKBONE = 'shufflenet_v2_x0_5';
