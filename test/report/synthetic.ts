// Deterministic synthetic run results for the report tests: known fold metrics per
// backbone × experiment × protocol, and a plausible training history per run.
import type { EpochRecord, Experiment, Protocol, RunResult } from '../../ts/report/types';
import { PAPER_OPTIM, PAPER_SCHEDULE } from '../../ts/train/config';
import { EpochSchedule } from '../../ts/train/schedule';

export const BACKBONES = ['densenet121', 'efficientnet_b0', 'googlenet', 'mobilenet_v2', 'resnet18', 'resnet50', 'shufflenet_v2_x1_0', 'wide_resnet50_2'];
export const FOLDS: Record<Protocol, number> = { cv: 5, loco: 6 };

// Small deterministic pseudo-random numbers in [-1, 1].
function wobble(...k: number[]): number {
  let h = 2166136261;
  for (const v of k) { h ^= v + 0x9e3779b9; h = Math.imul(h, 16777619) >>> 0; h ^= h >>> 13; }
  return ((h % 2001) / 1000) - 1;
}

const BASE: Record<Experiment, number> = { stl_afc: 0.64, stl_bx: 0.55, ft: 0.655, mdmt: 0.675 };
const SPREAD: Record<Experiment, number> = { stl_afc: 0.04, stl_bx: 0.03, ft: 0.03, mdmt: 0.02 };

/** Fold metric value: base + per-backbone offset + fold noise scaled by the experiment spread. */
export function metricValue(b: number, e: Experiment, p: Protocol, f: number, m: number): number {
  const ei = Object.keys(BASE).indexOf(e);
  return BASE[e] - (p === 'loco' ? 0.03 : 0) + 0.01 * (b % 4) + 0.004 * m + SPREAD[e] * wobble(b, ei, f, m, p === 'cv' ? 1 : 2);
}

export function history(seed: number, epochs: number, multi: boolean): EpochRecord[] {
  const s = new EpochSchedule({ lr: PAPER_OPTIM.lr }, PAPER_SCHEDULE);
  const out: EpochRecord[] = [];
  for (let e = 1; e <= epochs; e++) {
    const n = (k: number) => 0.015 * wobble(seed, e, k);
    const trainLoss = 0.35 + 0.6 * Math.exp(-e / 30) + n(1);
    const valAfc = 0.6 + 0.25 * Math.exp(-e / 25) + 0.0009 * Math.max(0, e - 70) + n(2);
    const valBx = 0.9 + 0.35 * Math.exp(-e / 35) + n(3);
    const valLoss = multi ? valAfc + valBx : valAfc;
    const lr = s.lr;
    const r = s.step(e, valLoss, valAfc);
    const acc = 0.6 + 0.1 * (1 - Math.exp(-e / 20)) + n(4);
    out.push({
      epoch: e, trainLoss, valLoss, lr, ...(multi ? { valAfcLoss: valAfc, valBxLoss: valBx } : {}),
      valAcc: acc, valF1: acc - 0.02 + n(5), valGmean: acc - 0.01 + n(6), isBest: r.isBest,
    });
    if (r.stop) break;
  }
  return out;
}

export function syntheticResults(opts: { backbones?: string[]; withHistory?: boolean } = {}): RunResult[] {
  const out: RunResult[] = [];
  const bbs = opts.backbones ?? BACKBONES;
  bbs.forEach((backbone, b) => {
    for (const experiment of ['stl_afc', 'stl_bx', 'ft', 'mdmt'] as Experiment[]) {
      for (const protocol of ['cv', 'loco'] as Protocol[]) {
        for (let fold = 0; fold < FOLDS[protocol]; fold++) {
          const [acc, f1, gmean] = [0, 1, 2].map((m) => metricValue(b, experiment, protocol, fold, m));
          const r: RunResult = { backbone, experiment, protocol, fold, metrics: { acc: acc!, f1: f1!, gmean: gmean! } };
          if (experiment === 'mdmt') {
            const [a2, f2, g2] = [0, 1, 2].map((m) => metricValue(b, 'stl_bx', protocol, fold, m) + 0.002);
            r.bxMetrics = { acc: a2!, f1: f2!, gmean: g2! };
          }
          if (opts.withHistory && fold === 0 && protocol === 'cv') {
            r.history = history(b * 7 + fold, 300, experiment === 'mdmt');
            r.bestEpoch = Math.max(...r.history.filter((h) => h.isBest).map((h) => h.epoch));
          }
          out.push(r);
        }
      }
    }
  });
  return out;
}
