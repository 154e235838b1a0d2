/**
 * The typed configuration of one training run (`train(config)`) with the paper's values as
 * defaults (paper.md §1.3–1.6; DESIGN.md §5). Every place where the paper and the authors'
 * code disagree (paper.md §6) is an option whose default is the paper's value; `CODE_PRESET`
 * holds the code's values. `resolveTrainConfig` fills the defaults and validates every field,
 * throwing MdmtError('ECONFIG') naming the bad field.
 *
 *   const cfg = resolveTrainConfig({ backbone: 'resnet18', experiment: 'stl_afc', data: { afc, bx }, outDir: 'runs/r18' });
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkKeys, MdmtError, nearestKey, show, type KeyTree } from '../errors';
import type { AugmentOptions } from '../data/augment';
import { AFC_RELEASES, type BinRule } from '../data/records';
import { listModels, modelInfo } from '../models/zoo';

/** The paper's four experiments: STL τ1 (AIforCOVID), STL τ2 (BRIXIA), FT (τ2 backbone → τ1), MDMT. */
export type ExperimentName = 'stl_afc' | 'stl_bx' | 'ft' | 'mdmt';
export const EXPERIMENTS: readonly ExperimentName[] = ['stl_afc', 'stl_bx', 'ft', 'mdmt'];
/** 5-fold stratified cross-validation or leave-one-centre-out. */
export type Protocol = 'cv' | 'loco';
export const PROTOCOLS: readonly Protocol[] = ['cv', 'loco'];

/** Where the images come from. Synthetic data (`mdmt synth`) uses the real AFC/BRIXIA layouts. */
export interface DataConfig {
  /** AIforCOVID root (clinical sheets, imgs*, processed/masks) */
  afc?: string;
  /** BRIXIA root (metadata_global_v2.csv, dicom_clean/, masks/) */
  bx?: string;
  /** the covid-cxr subset (labels.csv): both tasks from one folder; replaces afc/bx */
  covidCxr?: string;
  /** AIforCOVID releases to read (default all three) */
  afcReleases?: number[];
  /** BRIXIA global-score bins: paper <5,5–8,9–13,≥14 (default) or code ≤4,5–9,10–14,≥15 */
  bins?: BinRule;
  /** BRIXIA patient groups: one per `Subject` (default: a patient's films never cross splits) or per image (the authors' code) */
  bxGroupBy?: 'subject' | 'image';
  /** BRIXIA LOCO centres: the authors' three manufacturer groups (default) or the raw Manufacturer strings (their split files) */
  bxCentres?: 'groups' | 'raw';
  /** a record whose file is missing or unreadable: fail (default) or skip it */
  onBadRecord?: 'error' | 'skip';
  /** preprocessed-image disk cache (default none: memory only) */
  cacheDir?: string;
}

export interface OptimConfig {
  /** Adam learning rate (paper 1e-3) */
  lr: number;
  /** weight decay (paper 1e-4; the authors' code 1e-5) */
  weightDecay: number;
  /** decoupled (AdamW) decay instead of PyTorch Adam's L2 term (default false, as the authors) */
  decoupled: boolean;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface ScheduleConfig {
  /** epochs that keep no best model and do not count for early stopping (paper 40) */
  warmupEpochs: number;
  /** early-stopping patience after warm-up (paper 40; code 65) */
  earlyStopping: number;
  /** hard epoch limit (paper 300) */
  maxEpochs: number;
  /** ReduceLROnPlateau on the validation total loss */
  plateauPatience: number;
  plateauFactor: number;
  minLr: number;
}

export interface TrainConfig {
  /** a name from listModels(), e.g. 'resnet18', 'shufflenet_v2_x0_5' */
  backbone: string;
  experiment: ExperimentName;
  data: DataConfig;
  protocol: Protocol;
  /** fold index within the protocol (CV: 0..kFolds-1; LOCO: index of the held-out centre, sorted) */
  fold: number;
  /** CV folds (paper 5; at least 3: test, val and train chunks) */
  kFolds: number;
  /**
   * LOCO: the BRIXIA fold paired with every AFC centre (authors' loCo6 uses BX fold 0), one of the
   * BRIXIA LOCO folds (checked once the splits are known). Ignored under CV and when the tasks
   * are split together; stl_bx trains fold `fold` (default: bxLocoFold = fold; another is refused).
   */
  bxLocoFold: number;
  /** where split files are written / read (default `<outDir>/splits`); shared across a sweep */
  splitsDir: string;
  /** seed of the split files (default 0) */
  splitSeed: number;
  /** square input side (paper 256) */
  imageSize: number;
  /** paper 128 */
  batchSize: number;
  /** evaluation batch (default = batchSize) */
  evalBatchSize: number;
  optim: OptimConfig;
  schedule: ScheduleConfig;
  /** seeds weight init, data order, augmentation and dropout: all functions of (seed, epoch, step) */
  seed: number;
  /** 'cpu' | 'cuda' | 'cuda:N' */
  device: string;
  /** run directory: config.json, log.jsonl, checkpoint.safetensors, best.safetensors, result.json */
  outDir: string;
  /** Eq. 2 normalisation: over the whole batch ('batch', the authors' code) or the task's rows ('masked') */
  lossNormalize: 'batch' | 'masked';
  /** MDMT τ1 loss: cross-entropy (paper) or MSE on logits vs one-hot (authors' common_multi.yaml); STL τ1 and FT always use CE */
  afcLoss: 'ce' | 'mse';
  /** training augmentation (paper §1.7); false = none */
  augment: boolean | AugmentOptions;
  /** ImageNet mean/std after [0,1] scaling (paper/README intent; the authors' code skips it by a typo) */
  imagenetNormalize: boolean;
  /** MDMT batches: at random proportional to size (authors) or a fixed τ1 fraction per batch */
  mixing: 'random' | { afcFraction: number };
  /** MDMT init weight: backbone = beta·STLτ1 + (1−beta)·STLτ2 (paper 0.5) */
  beta: number;
  /** FT / MDMT: best.safetensors of the STL runs of the same fold */
  init: { stlAfc?: string; stlBx?: string };
  /**
   * The backbone's ImageNet weights (safetensors, torchvision / timm keys; the paper starts every
   * backbone from ImageNet): this file, or `<pretrainedDir>/<backbone>.safetensors`; false =
   * random initialisation (recorded in result.json and flagged by the report). FT and MDMT
   * inherit ImageNet through their STL inits (MDMT also keeps this file's BN statistics).
   */
  pretrained: string | false;
  /** folder of `<backbone>.safetensors` ImageNet weights (default $MDMT_WEIGHTS; scripts/export_weights.py --all writes it) */
  pretrainedDir?: string;
  /** loader worker threads (0 = in-process; default min(cores − 1, 8), at least 1) */
  workers: number;
  /** cli-progress bars on stderr when train() / experiment() get no hooks (default false) */
  progress: boolean;
  /** keep the newest checkpoint.safetensors after the run (default true: resume and inspection) */
  keepCheckpoint: boolean;
  /** write the checkpoint every n epochs (default 1; the last epoch and each new best epoch always, so best.safetensors is never ahead of it): big models write less, a resume replays up to n−1 epochs */
  checkpointEvery: number;
  /** run op by op instead of the compiled step plan (default false: debugging, benchmarks) */
  eager: boolean;
  /**
   * Arithmetic of the training step: 'fp32', or 'bf16' on CUDA (mixed precision: convolutions
   * and matmuls in bf16 with fp32 accumulation, BatchNorm statistics, loss and Adam in fp32,
   * fp32 master weights, activations NHWC; ts/plan/passes/precision.ts), through the compiled
   * step (not with `eager`); evaluation stays fp32. Default 'fp32' until bf16 is validated on
   * a GPU. The CPU has no bf16 kernels: 'bf16' there is an error.
   */
  precision: 'fp32' | 'bf16';
}

/**
 * Everything but the required fields (backbone, experiment, outDir and data, which every
 * experiment reads its images from) may be left out; nested objects may be partial.
 */
export type TrainConfigInput = Partial<Omit<TrainConfig, 'optim' | 'schedule' | 'init'>> &
  Pick<TrainConfig, 'backbone' | 'experiment' | 'outDir' | 'data'> & {
    optim?: Partial<OptimConfig>;
    schedule?: Partial<ScheduleConfig>;
    init?: TrainConfig['init'];
  };

export const PAPER_OPTIM: OptimConfig = { lr: 1e-3, weightDecay: 1e-4, decoupled: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
/** The paper's input side, batch size and cross-validation folds. */
export const PAPER_RUN = { imageSize: 256, batchSize: 128, kFolds: 5 } as const;
export const PAPER_SCHEDULE: ScheduleConfig = { warmupEpochs: 40, earlyStopping: 40, maxEpochs: 300, plateauPatience: 15, plateauFactor: 0.65, minLr: 1e-8 };

/** The most loader worker threads train() and predict() take (each is a thread with its own heap). */
export const MAX_WORKERS = 64;

/**
 * The valid fold indexes of `n` folds, for an out-of-range message: 'folds 0–4', 'fold 0 only',
 * 'no folds' (a fold index alone, "is 7 but kFolds is 5", left the reader to work out the range).
 */
export const foldRange = (n: number, kind = ''): string =>
  n > 1 ? `${kind}folds 0–${n - 1}` : n === 1 ? `${kind}fold 0 only` : `no ${kind}folds`;

/**
 * The authors' code values where they differ from the paper (paper.md §6): weight decay 1e-5,
 * early stopping 65, a 41-epoch warm-up (the code counts epochs from 0 and selects from
 * `epoch > warmup_epochs`, 40: its first candidate is the 42nd epoch), code bins, MSE for τ1 in
 * MDMT, no ImageNet normalisation, BRIXIA split per image with the raw Manufacturer strings as
 * LOCO centres.
 */
export const CODE_PRESET = {
  optim: { weightDecay: 1e-5 },
  schedule: { earlyStopping: 65, warmupEpochs: 41 },
  data: { bins: 'code' as BinRule, bxGroupBy: 'image' as const, bxCentres: 'raw' as const },
  afcLoss: 'mse' as const,
  imagenetNormalize: false,
};

/**
 * Every key train() accepts, nested as the config is. The mapped types make tsc fail when a
 * field is added to TrainConfig (or DataConfig, init, AugmentOptions) without being listed
 * here, so a key declared in the schema is always valid and any other key is an error
 * (`{ "lr": 0.01 }` at the top level used to be ignored silently).
 */
const DATA_KEYS: { [K in keyof Required<DataConfig>]: true } = {
  afc: true, bx: true, covidCxr: true, afcReleases: true, bins: true, bxGroupBy: true, bxCentres: true, onBadRecord: true, cacheDir: true,
};
const AUGMENT_KEYS: { [K in keyof Required<AugmentOptions>]: true | KeyTree } = {
  p: true, strength: true, disable: { shift: true, zoom: true, flip: true, rotate: true, elastic: true },
};
const INIT_KEYS: { [K in keyof Required<TrainConfig['init']>]: true } = { stlAfc: true, stlBx: true };
const leaves = (o: object): KeyTree => Object.fromEntries(Object.keys(o).map((k) => [k, true]));
export const TRAIN_CONFIG_KEYS: { [K in keyof Required<TrainConfig>]: true | KeyTree } = {
  backbone: true, experiment: true, data: DATA_KEYS, protocol: true, fold: true, kFolds: true, bxLocoFold: true,
  splitsDir: true, splitSeed: true, imageSize: true, batchSize: true, evalBatchSize: true,
  optim: leaves(PAPER_OPTIM), schedule: leaves(PAPER_SCHEDULE), seed: true, device: true, outDir: true,
  lossNormalize: true, afcLoss: true, augment: AUGMENT_KEYS, imagenetNormalize: true, mixing: { afcFraction: true },
  beta: true, init: INIT_KEYS, pretrained: true, pretrainedDir: true, workers: true, progress: true, keepCheckpoint: true, checkpointEvery: true,
  eager: true, precision: true,
};
/** Names users bring from the CLI flags or other tools, mapped to the setting they mean (for suggestions). */
export const CONFIG_ALIASES: Record<string, string> = {
  lr: 'optim.lr', learningRate: 'optim.lr', epochs: 'schedule.maxEpochs', warmup: 'schedule.warmupEpochs', patience: 'schedule.earlyStopping', wd: 'optim.weightDecay',
  dataAfc: 'data.afc', dataBx: 'data.bx', initStlAfc: 'init.stlAfc', initStlBx: 'init.stlBx', afcFraction: 'mixing.afcFraction',
  out: 'outDir', bins: 'data.bins', cacheDir: 'data.cacheDir',
};

/** The registered model nearest to an unknown name ('resnet19' → 'resnet18'), if one is close. */
export function nearestModel(name: string): string | undefined {
  return nearestKey(name, Object.fromEntries(listModels().map((m) => [m, true] as const)));
}

/**
 * The one check of a backbone name given as a setting (train(), predict()): ECONFIG
 * from `op` naming `field`, the nearest registered name and all of them.
 *
 * @example checkModelName('resnet19', 'predict', 'backbone') // throws: backbone 'resnet19' is not a registered model (did you mean resnet18?); registered: ...
 */
export function checkModelName(name: string, op: string, field: string): void {
  const models = listModels();
  if (models.includes(name)) return;
  const near = nearestModel(name);
  throw new MdmtError('ECONFIG', op, `${field} '${name}' is not a registered model${near ? ` (did you mean ${near}?)` : ''}; registered: ${models.join(', ')}`);
}

/** The largest image side train() and predict() take. */
export const MAX_IMAGE_SIZE = 2048;

/** config.imageSize: 16–2048 px, and at least the side the backbone takes (DenseNet 29). */
function inputSize(backbone: string, v: unknown): number {
  const size = int('imageSize', v, 16, MAX_IMAGE_SIZE), min = modelInfo(backbone).minSize;
  if (size < min) bad('imageSize', `must be at least ${min} for ${backbone} (smaller inputs shrink to a 0×0 map inside it), got ${size}`);
  return size;
}

function bad(field: string, msg: string): never {
  throw new MdmtError('ECONFIG', 'train', `config.${field} ${msg}`);
}
function int(field: string, v: unknown, lo: number, hi = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(field, `must be an integer ${hi === Number.MAX_SAFE_INTEGER ? `≥ ${lo}` : `in [${lo}, ${hi}]`}, got ${show(v)}`);
  return v;
}
/** A finite number in [lo, hi] — (lo, … with loOpen, …, hi) with hiOpen — named with the interval it must lie in. */
function num(field: string, v: unknown, lo: number, hi = Infinity, loOpen = false, hiOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || (hiOpen ? v >= hi : v > hi))
    bad(field, hi === Infinity ? `must be a number ${loOpen ? '>' : '≥'} ${lo}, got ${show(v)}` : `must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${show(v)}`);
  return v;
}
function bool(field: string, v: unknown, def: boolean): boolean {
  if (v !== undefined && typeof v !== 'boolean') bad(field, `must be true or false, got ${show(v)}`); // "false" is truthy
  return (v as boolean | undefined) ?? def;
}
/** The settings that are objects of settings (a --config file spreads them under the flags). */
export const SETTING_GROUPS = ['data', 'optim', 'schedule', 'init'] as const;
/** Why a nested setting is not an object of settings (undefined when it is one, or unset). */
export function groupError(v: unknown): string | undefined {
  return v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v)) ? `must be an object of settings, got ${show(v)}` : undefined;
}
/** A nested setting must be an object when given: `optim: 0.01` was silently the defaults. */
function group(field: string, v: unknown): void {
  const e = groupError(v);
  if (e) bad(field, e);
}
function pathOf(field: string, v: unknown): string | undefined {
  if (v !== undefined && (typeof v !== 'string' || !v)) bad(field, `must be a path, got ${show(v)}`);
  return v as string | undefined;
}
function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) bad(field, `must be one of ${allowed.join(' | ')}, got ${show(v)}`);
  return v as T;
}

/**
 * The ImageNet weights of a run: an explicit file wins, then `pretrainedDir`, then
 * $MDMT_WEIGHTS (a folder of `<backbone>.safetensors`); none = random initialisation. A folder
 * without the backbone's file is an error naming the file. An explicit file is checked when it
 * is loaded, so a finished run whose weights moved still reads back.
 */
function resolvePretrained(c: TrainConfigInput, backbone: string): Pick<TrainConfig, 'pretrained' | 'pretrainedDir'> {
  if (c.pretrained !== undefined && c.pretrained !== false && (typeof c.pretrained !== 'string' || !c.pretrained))
    bad('pretrained', `must be a .safetensors file or false (random initialisation), got ${JSON.stringify(c.pretrained)}`);
  if (c.pretrainedDir !== undefined && (typeof c.pretrainedDir !== 'string' || !c.pretrainedDir)) bad('pretrainedDir', `must be a directory path, got ${JSON.stringify(c.pretrainedDir)}`);
  if (c.pretrained === false) return { pretrained: false };
  const field = c.pretrainedDir !== undefined ? 'pretrainedDir' : 'pretrainedDir ($MDMT_WEIGHTS)';
  const dir = c.pretrainedDir ?? (process.env.MDMT_WEIGHTS || undefined);
  if (typeof c.pretrained === 'string') return { pretrained: path.resolve(c.pretrained), ...(c.pretrainedDir ? { pretrainedDir: path.resolve(c.pretrainedDir) } : {}) };
  if (!dir) return { pretrained: false };
  const d = path.resolve(dir);
  if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) bad(field, `'${d}' is not a directory`);
  const file = path.join(d, `${backbone}.safetensors`);
  if (!fs.existsSync(file)) bad(field, `'${d}' has no ${backbone}.safetensors (the ImageNet weights of backbone '${backbone}': ${file}; scripts/export_weights.py --all writes them)`);
  return { pretrained: file, pretrainedDir: d };
}

/**
 * Fills the defaults (paper values) and validates every field.
 *
 * @example resolveTrainConfig({ backbone: 'resnet18', experiment: 'mdmt', outDir: 'runs/x', data: { covidCxr: '../shared/data/covid-cxr' } }).optim.lr // 1e-3
 */
export function resolveTrainConfig(c: TrainConfigInput): TrainConfig {
  if (c === null || typeof c !== 'object') throw new MdmtError('ECONFIG', 'train', 'config must be an object');
  checkKeys(c, TRAIN_CONFIG_KEYS, { op: 'train', where: 'config', aliases: CONFIG_ALIASES });
  if (typeof c.backbone !== 'string' || !c.backbone) bad('backbone', `must be a model name, got ${show(c.backbone)}`);
  checkModelName(c.backbone, 'train', 'config.backbone');
  const experiment = oneOf('experiment', c.experiment, EXPERIMENTS);
  if (typeof c.outDir !== 'string' || !c.outDir) bad('outDir', `must be a directory path, got ${show(c.outDir)}`);
  for (const k of SETTING_GROUPS) group(k, c[k]);
  if (c.mixing !== undefined && c.mixing !== 'random') group('mixing', c.mixing);
  // null is not "the default": `c.imageSize ?? 256` read { imageSize: null } as 256 px
  for (const [k, v] of Object.entries(c)) if (v === null) bad(k, 'is null: leave it out for the default, or give a value');
  for (const k of ['stlAfc', 'stlBx'] as const) pathOf(`init.${k}`, c.init?.[k]);
  if (c.device !== undefined && (typeof c.device !== 'string' || !c.device)) bad('device', `must be cpu, cuda or cuda:N, got ${show(c.device)}`);
  const data = { ...(c.data ?? {}) };
  for (const k of ['afc', 'bx', 'covidCxr', 'cacheDir'] as const) if (data[k] !== undefined) {
    if (typeof data[k] !== 'string' || !data[k]) bad(`data.${k}`, `must be a path, got ${show(data[k])}`);
    data[k] = path.resolve(data[k]!);
  }
  if (!data.covidCxr && !data.afc && !data.bx) bad('data', 'needs afc and/or bx roots, or covidCxr');
  // loadRecords reads covid-cxr alone: the roots beside it would be ignored
  if (data.covidCxr && (data.afc || data.bx))
    bad('data.covidCxr', `is given with data.${data.afc ? 'afc' : 'bx'}: covid-cxr provides both tasks (τ1 and τ2, labels.csv) and the roots would be ignored; give covidCxr, or afc and/or bx`);
  if (data.afcReleases !== undefined) {
    // a string was iterated: '12' read releases 1 and 2
    const known = Object.keys(AFC_RELEASES).map(Number), r: unknown = data.afcReleases;
    if (!Array.isArray(r) || !r.length || !r.every((x) => known.includes(x as number)) || new Set(r).size !== r.length)
      bad('data.afcReleases', `must be a list of distinct AIforCOVID releases (${known.join(', ')}), e.g. [1, 2], got ${show(r)}`);
  }
  if (!data.covidCxr) {
    if (experiment !== 'stl_bx' && !data.afc) bad('data.afc', `is required by experiment '${experiment}'`);
    if ((experiment === 'stl_bx' || experiment === 'mdmt') && !data.bx) bad('data.bx', `is required by experiment '${experiment}'`);
  }
  if (data.bins !== undefined) oneOf('data.bins', data.bins, ['paper', 'code'] as const);
  if (data.bxGroupBy !== undefined) oneOf('data.bxGroupBy', data.bxGroupBy, ['subject', 'image'] as const);
  if (data.bxCentres !== undefined) oneOf('data.bxCentres', data.bxCentres, ['groups', 'raw'] as const);
  if (data.onBadRecord !== undefined) oneOf('data.onBadRecord', data.onBadRecord, ['error', 'skip'] as const);
  const optim = { ...PAPER_OPTIM, ...(c.optim ?? {}) };
  num('optim.lr', optim.lr, 0, 10, true);
  num('optim.weightDecay', optim.weightDecay, 0, 1);
  // β = 1 makes Adam's bias correction 1 − βᵗ zero (a NaN step); PyTorch requires 0 ≤ β < 1
  for (const k of ['beta1', 'beta2'] as const) num(`optim.${k}`, optim[k], 0, 1, false, true);
  num('optim.eps', optim.eps, 0, 1, true);
  if (typeof optim.decoupled !== 'boolean') bad('optim.decoupled', 'must be a boolean');
  const schedule = { ...PAPER_SCHEDULE, ...(c.schedule ?? {}) };
  int('schedule.warmupEpochs', schedule.warmupEpochs, 0);
  int('schedule.earlyStopping', schedule.earlyStopping, 1);
  int('schedule.maxEpochs', schedule.maxEpochs, 1);
  int('schedule.plateauPatience', schedule.plateauPatience, 0);
  // 1 would never lower the rate; 0 would zero it
  num('schedule.plateauFactor', schedule.plateauFactor, 0, 1, true, true);
  num('schedule.minLr', schedule.minLr, 0);
  const outDir = path.resolve(c.outDir);
  const batchSize = int('batchSize', c.batchSize ?? PAPER_RUN.batchSize, 1);
  // refused here, not after the split's images are read: train() skips 1-sample batches
  if (batchSize === 1) bad('batchSize', 'is 1: every training batch would hold one sample, which BatchNorm cannot train on (train() skips such a batch), so nothing would train; use 2 or more (evalBatchSize may be 1)');
  const fold = int('fold', c.fold ?? 0, 0);
  const cfg: TrainConfig = {
    backbone: c.backbone,
    experiment,
    data,
    protocol: oneOf('protocol', c.protocol ?? 'cv', PROTOCOLS),
    fold,
    kFolds: int('kFolds', c.kFolds ?? PAPER_RUN.kFolds, 3),
    // stl_bx trains BRIXIA fold `fold` (pairedBxFold): its config.json says so
    bxLocoFold: int('bxLocoFold', c.bxLocoFold ?? (experiment === 'stl_bx' ? fold : 0), 0),
    splitsDir: path.resolve(pathOf('splitsDir', c.splitsDir) ?? path.join(outDir, 'splits')),
    splitSeed: int('splitSeed', c.splitSeed ?? 0, 0),
    imageSize: inputSize(c.backbone, c.imageSize ?? PAPER_RUN.imageSize),
    batchSize,
    evalBatchSize: int('evalBatchSize', c.evalBatchSize ?? batchSize, 1),
    optim,
    schedule,
    seed: int('seed', c.seed ?? 0, 0, 2 ** 32 - 1),
    device: typeof c.device === 'string' && c.device ? c.device : process.env.MDMT_DEVICE || 'cpu',
    outDir,
    lossNormalize: oneOf('lossNormalize', c.lossNormalize ?? 'batch', ['batch', 'masked'] as const),
    afcLoss: oneOf('afcLoss', c.afcLoss ?? 'ce', ['ce', 'mse'] as const),
    augment: c.augment === undefined ? true : c.augment, // null is refused below, not read as the default
    imagenetNormalize: bool('imagenetNormalize', c.imagenetNormalize, true),
    mixing: c.mixing ?? 'random',
    beta: num('beta', c.beta ?? 0.5, 0, 1),
    init: { ...(c.init ?? {}) },
    ...resolvePretrained(c, c.backbone),
    workers: int('workers', c.workers ?? Math.max(1, Math.min(os.cpus().length - 1, 8)), 0, MAX_WORKERS),
    progress: bool('progress', c.progress, false),
    keepCheckpoint: bool('keepCheckpoint', c.keepCheckpoint, true),
    checkpointEvery: int('checkpointEvery', c.checkpointEvery ?? 1, 1),
    eager: c.eager ?? false,
    precision: oneOf('precision', c.precision ?? 'fp32', ['fp32', 'bf16'] as const),
  };
  if (typeof cfg.eager !== 'boolean') bad('eager', `must be a boolean, got ${show(cfg.eager)}`);
  if (!/^(cpu|cuda(:\d{1,2})?)$/.test(cfg.device)) bad('device', `must be cpu, cuda or cuda:N, got ${show(cfg.device)}`);
  // an error, not a quiet fallback to fp32: a run (and its report) must not claim bf16 it did not use
  if (cfg.precision === 'bf16' && cfg.device === 'cpu')
    bad('precision', "is 'bf16' but the device is cpu: the CPU backend computes in fp32 only (bf16 mixed precision runs on cuda)");
  if (cfg.precision === 'bf16' && cfg.eager)
    bad('precision', "is 'bf16' but eager is set: mixed precision is a pass of the compiled training step (drop eager)");
  if (typeof cfg.augment !== 'boolean') {
    // NaN or a string here made every augmented image NaN, seen only as a diverged loss
    if (cfg.augment === null || typeof cfg.augment !== 'object' || Array.isArray(cfg.augment))
      bad('augment', `must be a boolean or augmentation options { p, strength, disable }, got ${show(cfg.augment)}`);
    const a = cfg.augment as { p?: unknown; strength?: unknown; disable?: unknown };
    if (a.p !== undefined) num('augment.p', a.p, 0, 1);
    if (a.strength !== undefined) num('augment.strength', a.strength, 0, 1);
    group('augment.disable', a.disable);
    for (const [k, v] of Object.entries((a.disable ?? {}) as Record<string, unknown>)) bool(`augment.disable.${k}`, v, false);
  }
  if (cfg.mixing !== 'random') {
    const f = (cfg.mixing as { afcFraction?: unknown }).afcFraction;
    // (0, 1) as the range says (1 was refused with "must be a number in (0, 1]"), and at least one
    // sample of each task per batch: 0.01 of a batch of 8 rounds to no τ1 sample, a head never trained
    if (typeof f !== 'number' || !(f > 0 && f < 1)) bad('mixing.afcFraction', `must be a number in (0, 1) (the τ1 share of each training batch), got ${show(f)}`);
    const nA = Math.round(f * cfg.batchSize);
    if (nA < 1 || nA >= cfg.batchSize)
      bad('mixing.afcFraction', `${f} of a batch of ${cfg.batchSize} rounds to ${nA} τ1 and ${cfg.batchSize - nA} τ2 samples: the ${nA < 1 ? 'τ1' : 'τ2'} head would never train; ${cfg.batchSize < 2 ? 'a mixed batch needs batchSize ≥ 2' : `give a fraction from 1/${cfg.batchSize} to ${cfg.batchSize - 1}/${cfg.batchSize} (${Number((1 / cfg.batchSize).toPrecision(3))} to ${Number((1 - 1 / cfg.batchSize).toPrecision(3))}), or a larger batch`}`);
  }
  if (cfg.protocol === 'cv' && cfg.fold >= cfg.kFolds) bad('fold', `${cfg.fold} is out of range: this run has ${foldRange(cfg.kFolds)} (${cfg.kFolds}-fold CV, config.kFolds)`);
  // an init the experiment does not start from would be ignored: STL runs start from ImageNet (or random) weights, FT from STL τ2 alone
  const uses = { stlAfc: experiment === 'mdmt', stlBx: experiment === 'ft' || experiment === 'mdmt' };
  for (const k of ['stlAfc', 'stlBx'] as const) if (cfg.init[k] !== undefined && !uses[k])
    bad(`init.${k}`, `is ${show(cfg.init[k])} but experiment '${experiment}' does not use it (${experiment === 'ft' ? 'ft starts from init.stlBx alone' : 'an STL run starts from its ImageNet or random weights'}): leave it out`);
  if (experiment === 'ft' && !cfg.init.stlBx) bad('init.stlBx', "is required by experiment 'ft' (the STL τ2 best.safetensors of the same fold)");
  if (experiment === 'mdmt' && (!cfg.init.stlAfc || !cfg.init.stlBx))
    bad(cfg.init.stlAfc ? 'init.stlBx' : 'init.stlAfc', "is required by experiment 'mdmt' (the STL best.safetensors of the same fold)");
  return cfg;
}

/**
 * stl_bx trains BRIXIA fold `fold`, whatever bxLocoFold says: an explicitly given bxLocoFold
 * naming another fold is refused (train() checks its input; a config.json, which always holds
 * one, still reads back, and experiment() gives stl_bx jobs none).
 */
export function checkStlBxFold(c: TrainConfigInput, cfg: TrainConfig): void {
  if (cfg.experiment === 'stl_bx' && c.bxLocoFold !== undefined && c.bxLocoFold !== cfg.fold)
    bad('bxLocoFold', `is ${show(c.bxLocoFold)} but experiment 'stl_bx' trains BRIXIA fold config.fold (${cfg.fold}): the fold of stl_bx is \`fold\`; bxLocoFold is the BRIXIA LOCO fold that stl_afc, ft and mdmt LOCO runs pair with`);
}

/** The tasks an experiment trains on and the one whose validation loss selects the best epoch. */
export function experimentTasks(e: ExperimentName): { afc: boolean; bx: boolean; main: 'AFC' | 'BX' } {
  return e === 'stl_bx' ? { afc: false, bx: true, main: 'BX' } : e === 'mdmt' ? { afc: true, bx: true, main: 'AFC' } : { afc: true, bx: false, main: 'AFC' };
}
