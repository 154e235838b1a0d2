/**
 * The paper's epoch schedule as a pure state machine, independent of the engine:
 * PyTorch's `ReduceLROnPlateau` on the validation loss, warm-up gating (the first
 * `warmupEpochs` epochs keep no best model and do not count for early stopping; this is
 * not an LR warm-up, paper.md §1.5), early stopping, and best-model selection on the
 * validation AIforCOVID loss. The learning rate has one owner, the optimiser: as PyTorch's
 * schedulers do, the schedule holds it and sets `optimizer.lr`, and a checkpoint stores the
 * lr once, with the optimiser. The paper's settings are `PAPER_SCHEDULE` in config.ts.
 */
import type { ScheduleConfig } from './config';

/** What a scheduler drives: an optimiser's learning rate (Adam, SGD, or any object with `lr`). */
export interface LrHolder {
  lr: number;
}

export interface PlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  /** Reductions smaller than this are skipped (PyTorch `eps`). */
  eps?: number;
}

export interface PlateauState {
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
  lastEpoch: number;
}

/**
 * `torch.optim.lr_scheduler.ReduceLROnPlateau` for one parameter group, with PyTorch's
 * defaults (factor 0.1, patience 10, threshold 1e-4 rel, cooldown 0, min lr 0, eps 1e-8).
 * It reads and sets `optimizer.lr`. `step(metric)` counts a bad epoch unless the metric
 * beats the best by the threshold (rel: a < best·(1 − threshold) in 'min' mode); after more
 * than `patience` bad epochs the lr becomes max(lr·factor, minLr), the counter resets and
 * `cooldown` epochs are ignored. As in PyTorch, a reduction smaller than `eps` (1e-8) is
 * skipped, so from 1e-3 with factor 0.65 the lr stops near 2.7e-8 and never reaches minLr
 * 1e-8 (pass `eps: 0` to clamp at minLr).
 *
 * @example
 * const opt = new Adam(params, { lr: 1e-3 }), s = new ReduceLROnPlateau(opt, { factor: 0.65, patience: 15 });
 * for (let e = 0; e < 17; e++) s.step(1.0); opt.lr // 6.5e-4
 */
export class ReduceLROnPlateau {
  readonly optimizer: LrHolder;
  readonly opts: Required<PlateauOptions>;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;

  constructor(optimizer: LrHolder, opts: PlateauOptions = {}) {
    this.optimizer = optimizer;
    this.opts = { mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: 'rel', cooldown: 0, minLr: 0, eps: 1e-8, ...opts };
    if (!(this.opts.factor < 1)) throw new Error(`ReduceLROnPlateau: factor must be < 1, got ${this.opts.factor}`);
    this.best = this.opts.mode === 'min' ? Infinity : -Infinity;
  }

  /** The optimiser's current learning rate (read, not a copy). */
  get lr(): number {
    return this.optimizer.lr;
  }

  /** Whether `a` beats the best value under the mode and threshold. */
  isBetter(a: number): boolean {
    const { mode, threshold, thresholdMode } = this.opts;
    if (mode === 'min') return thresholdMode === 'rel' ? a < this.best * (1 - threshold) : a < this.best - threshold;
    return thresholdMode === 'rel' ? a > this.best * (1 + threshold) : a > this.best + threshold;
  }

  /** One epoch's metric; returns true when the lr was reduced. */
  step(metric: number): boolean {
    this.lastEpoch++;
    if (this.isBetter(metric)) { this.best = metric; this.numBadEpochs = 0; } else this.numBadEpochs++;
    if (this.cooldownCounter > 0) { this.cooldownCounter--; this.numBadEpochs = 0; }
    if (this.numBadEpochs > this.opts.patience) {
      this.cooldownCounter = this.opts.cooldown;
      this.numBadEpochs = 0;
      const lr = this.optimizer.lr;
      const next = Math.max(lr * this.opts.factor, this.opts.minLr);
      if (lr - next > this.opts.eps) { this.optimizer.lr = next; return true; }
    }
    return false;
  }

  /** The counters (the lr is the optimiser's, saved with it). */
  state(): PlateauState {
    return { best: this.best, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch };
  }

  /** Restores state() output; an `lr` kept here by older checkpoints is ignored (the optimiser's own copy is restored). */
  load(s: PlateauState): void {
    ({ best: this.best, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch } = s);
  }
}

export type StepReason = 'warmup' | 'improved' | 'not_improved' | 'early_stop' | 'max_epochs';

export interface StepResult {
  /** The optimiser's learning rate for the next epoch (after the plateau step). */
  lr: number;
  lrReduced: boolean;
  /** Save this epoch's weights as the best model. */
  isBest: boolean;
  /** Training ends after this epoch. */
  stop: boolean;
  reason: StepReason;
  /** Post-warm-up epochs since the last best. */
  epochsWithoutImprovement: number;
  bestEpoch: number;
  bestSelectLoss: number;
}

export interface EpochScheduleState {
  plateau: PlateauState;
  epoch: number;
  bestEpoch: number;
  bestSelectLoss: number;
  epochsWithoutImprovement: number;
}

/**
 * Per-epoch decisions of the paper's training loop over `optimizer`'s learning rate, with
 * the settings of a resolved ScheduleConfig (`PAPER_SCHEDULE` by default in config.ts).
 * Call `step(epoch, valLoss, valSelectLoss)` once after each epoch's validation, epochs
 * numbered 1, 2, …: the plateau scheduler steps on `valLoss` (the validation total loss),
 * setting `optimizer.lr`, every epoch, warm-up included;
 * after warm-up an epoch is the best when `valSelectLoss` (validation AFC loss) is strictly
 * below the best so far, otherwise it counts towards early stopping, which fires when the
 * count reaches `earlyStopping`. So with the defaults the first possible best is epoch 41
 * and the earliest stop is epoch 81. `state()` / `load()` serialise it for resume.
 *
 * @example
 * const s = new EpochSchedule(optimizer, PAPER_SCHEDULE);
 * for (let e = 1; ; e++) { train(); const r = s.step(e, vTotal, vAfc); if (r.isBest) save(); if (r.stop) break; }
 */
export class EpochSchedule {
  readonly warmupEpochs: number;
  readonly earlyStopping: number;
  readonly maxEpochs: number;
  readonly plateau: ReduceLROnPlateau;
  epoch = 0;
  bestEpoch = 0;
  bestSelectLoss = Infinity;
  epochsWithoutImprovement = 0;

  constructor(optimizer: LrHolder, c: ScheduleConfig) {
    this.warmupEpochs = c.warmupEpochs;
    this.earlyStopping = c.earlyStopping;
    this.maxEpochs = c.maxEpochs;
    this.plateau = new ReduceLROnPlateau(optimizer, { patience: c.plateauPatience, factor: c.plateauFactor, minLr: c.minLr });
  }

  /** The optimiser's learning rate (for the epoch about to run). */
  get lr(): number {
    return this.plateau.lr;
  }

  step(epoch: number, valLoss: number, valSelectLoss: number): StepResult {
    if (epoch !== this.epoch + 1) throw new Error(`EpochSchedule.step: expected epoch ${this.epoch + 1}, got ${epoch}`);
    this.epoch = epoch;
    const lrReduced = this.plateau.step(valLoss);
    let isBest = false;
    let reason: StepReason = 'warmup';
    let stop = false;
    if (epoch > this.warmupEpochs) {
      if (valSelectLoss < this.bestSelectLoss) {
        isBest = true;
        reason = 'improved';
        this.bestSelectLoss = valSelectLoss;
        this.bestEpoch = epoch;
        this.epochsWithoutImprovement = 0;
      } else {
        this.epochsWithoutImprovement++;
        reason = 'not_improved';
        if (this.epochsWithoutImprovement >= this.earlyStopping) { stop = true; reason = 'early_stop'; }
      }
    }
    if (!stop && epoch >= this.maxEpochs) { stop = true; reason = 'max_epochs'; }
    return {
      lr: this.plateau.lr, lrReduced, isBest, stop, reason,
      epochsWithoutImprovement: this.epochsWithoutImprovement, bestEpoch: this.bestEpoch, bestSelectLoss: this.bestSelectLoss,
    };
  }

  state(): EpochScheduleState {
    return { plateau: this.plateau.state(), epoch: this.epoch, bestEpoch: this.bestEpoch, bestSelectLoss: this.bestSelectLoss, epochsWithoutImprovement: this.epochsWithoutImprovement };
  }

  load(s: EpochScheduleState): void {
    this.plateau.load(s.plateau);
    this.epoch = s.epoch; this.bestEpoch = s.bestEpoch; this.bestSelectLoss = s.bestSelectLoss; this.epochsWithoutImprovement = s.epochsWithoutImprovement;
  }
}
