/**
 * Input of the report: what the training code records for each finished run. One
 * `RunResult` per backbone × experiment × protocol × fold; metrics are fractions in [0, 1].
 */
import type { ConfusionMatrix, FoldMetrics } from '../train/metrics';

/** The paper's four experiments: STL τ1 (AIforCOVID), STL τ2 (BRIXIA), FT (τ2 → τ1), MDMT. */
export type Experiment = 'stl_afc' | 'stl_bx' | 'ft' | 'mdmt';

/** 5-fold stratified cross-validation or leave-one-centre-out. */
export type Protocol = 'cv' | 'loco';

/** One epoch of a run's log (the JSONL line). Optional fields are drawn when present. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  /** Validation total loss (what ReduceLROnPlateau sees). */
  valLoss: number;
  /** Learning rate used in this epoch. */
  lr: number;
  /** Validation AIforCOVID loss (best-model selection); only for multi-task runs. */
  valAfcLoss?: number;
  valBxLoss?: number;
  valAcc?: number;
  valF1?: number;
  valGmean?: number;
  isBest?: boolean;
}

/** Test result of one trained model on one fold. */
export interface RunResult {
  backbone: string;
  experiment: Experiment;
  protocol: Protocol;
  fold: number | string;
  /** Test metrics on the run's main task: τ1 for stl_afc / ft / mdmt, τ2 for stl_bx. */
  metrics: FoldMetrics;
  /** Test confusion matrix of the same task (enables pooled metrics). */
  cm?: ConfusionMatrix;
  /** MDMT only: test metrics on τ2. */
  bxMetrics?: FoldMetrics;
  history?: EpochRecord[];
  bestEpoch?: number;
  /** the run's warm-up epochs (shaded on its learning curve; absent in runs written before it was stored) */
  warmupEpochs?: number;
  /** Whether the backbone began from ImageNet weights (FT / MDMT: through their STL inits);
   *  false = random initialisation, not comparable with the paper; undefined = not recorded. */
  imagenet?: boolean;
  /** temperature scaling of each head, fitted on the validation split after training */
  calibration?: { afc?: TaskCalibration; bx?: TaskCalibration };
  /** per-sample test-set outputs of the best model (bootstrap intervals, per-centre tables, reliability diagrams) */
  predictions?: { afc?: TestPredictions; bx?: TestPredictions };
  /** records of the run's split left out as unreadable (data.onBadRecord 'skip'); absent when none */
  skipped?: { part: 'train' | 'val' | 'test'; task: 'AFC' | 'BX'; id: string; file: string; error: string }[];
}

/** One head's test-set outputs: uncalibrated logits, true classes and each sample's centre. */
export interface TestPredictions {
  ids: string[];
  centers: string[];
  yTrue: number[];
  logits: number[][];
}

/**
 * Whether a fitted temperature beat T = 1 on held-out folds of the validation split: the mean
 * per-sample NLL gain over T = 1 and its standard error (absent when there were too few samples).
 */
export interface TemperatureCheck {
  n: number;
  folds: number;
  gain?: number;
  se?: number;
  decision: 'applied' | 'no held-out gain' | 'too few samples';
}

/** NLL, ECE (15 bins) and Brier score of one head on one split. */
export interface CalibrationStats {
  n: number;
  nll: number;
  ece: number;
  brier: number;
}

/** Temperature scaling of one head: softmax(z / temperature); stats before and after. */
export interface TaskCalibration {
  /** the temperature applied (predict uses it): `fitted` when its check passed, else 1 */
  temperature: number;
  /** T minimising the whole validation split's NLL (absent in runs from before the check) */
  fitted?: number;
  /** the cross-validated check that decided between `fitted` and 1 (ts/predict/calibration.ts) */
  check?: TemperatureCheck;
  val: { before: CalibrationStats; after: CalibrationStats };
  test?: { before: CalibrationStats; after: CalibrationStats };
}

export interface ReportOptions {
  /** Degrees of freedom for the std across folds (default 0, see `meanStd`). */
  ddof?: number;
  /** μ per backbone: mean of the fold metrics (paper text, default) or the metric of the
   *  pooled confusion matrix over folds (what the authors' t-test script used; needs `cm`). */
  mu?: 'folds' | 'pooled';
  /** Warm-up length shaded on every learning curve (default: each run's own, else the paper's 40). */
  warmupEpochs?: number;
  /** Write one learning-curve SVG per run that has a history (default true). */
  curves?: boolean;
  title?: string;
  /** run directories (as shown) that began but hold no result.json: listed, not in the tables */
  unfinished?: string[];
  /** settings in which the runs differ (each value with its runs; ts/train/identity.ts settingsSpread):
   *  runs of different sweeps averaged as one, warned above the tables */
  mixedSettings?: string[];
  /** bootstrap intervals: resamples (default 1000) and seed (default 0) */
  bootstrap?: { resamples?: number; seed?: number };
}

/** Whether a run has test metrics on its main task (τ2 for STL τ2): train() writes NaN (JSON null) and cm [] for a fold without test records of it. */
export const hasTestMetrics = (r: RunResult): boolean => Number.isFinite(r.metrics?.acc);

/** Display names in tables and legends. */
export const EXPERIMENT_LABEL: Record<Experiment, string> = {
  stl_afc: 'STL τ1',
  stl_bx: 'STL τ2',
  ft: 'FT',
  mdmt: 'MDMT',
};

export const PROTOCOL_LABEL: Record<Protocol, string> = { cv: 'CV', loco: 'LOCO' };

export const METRIC_LABEL: Record<string, string> = { acc: 'ACC', f1: 'F1', gmean: 'GM' };
