/** The tiny sweep shared by the resume test and its child process: one backbone, CV fold 0, the four experiments. */
import type { ExperimentConfig } from '../../ts/train/experiment';
import { BACKBONE } from './_fixture';

export function sweepConfig(runsDir: string, afc: string, bx: string): ExperimentConfig {
  return {
    runsDir, backbones: [BACKBONE], protocols: ['cv'], foldLimit: 1, pollMs: 100,
    base: {
      data: { afc, bx }, imageSize: 32, batchSize: 8, kFolds: 3, workers: 0, progress: false,
      schedule: { maxEpochs: 4, warmupEpochs: 1, earlyStopping: 5, plateauPatience: 1 },
    },
  };
}
