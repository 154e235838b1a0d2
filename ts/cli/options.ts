/**
 * The option vocabulary shared by `mdmt train`, `mdmt experiment` and `mdmt demo`: typed
 * parsers that reject a bad value naming the flag (commander turns them into usage errors,
 * exit code 2), the training flags, and their translation into a TrainConfigInput.
 * A `--config FILE` (JSON, TrainConfigInput fields) is the base; flags override it.
 * The training flags only parse (a number, an integer): the ranges and the defaults of the
 * settings are config.ts's, which validates flags and --config files alike (ECONFIG, exit 2).
 *
 *   addTrainFlags(cmd);  ...  const base = trainBase(cmd.opts());
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { checkKeys, MdmtError } from '../errors';
import { CODE_PRESET, CONFIG_ALIASES, groupError, PAPER_OPTIM, PAPER_RUN, PAPER_SCHEDULE, SETTING_GROUPS, TRAIN_CONFIG_KEYS, type TrainConfigInput } from '../train/config';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The models `mdmt export --task` builds (auto: from the weights' keys). */
export const EXPORT_TASKS = ['auto', 'imagenet', 'backbone', 'mdmt', 'stl_afc', 'stl_bx'] as const;
export type ExportTask = (typeof EXPORT_TASKS)[number];

/** An integer ≥ min (any integer by default: a training setting's range is config.ts's). */
export function intArg(min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^[-+]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer${min > -Infinity ? ` ≥ ${min}` : ''}.`);
    return n;
  };
}

/** A finite number ≥ min (any by default: a training setting's range is config.ts's). */
export function numArg(min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    // decimal notation only: Number() also reads '0x10' (16) and '0b1', which no one means as a learning rate
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v.trim()) || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number${min > -Infinity ? ` ≥ ${min}` : ''}.`);
    return n;
  };
}

/** A comma-separated list (each item checked against `allowed` when given). */
export function listArg(allowed?: readonly string[]) {
  return (v: string): string[] => {
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!items.length) throw new InvalidArgumentError('expected a comma-separated list.');
    const badOne = allowed && items.find((s) => !allowed.includes(s));
    if (badOne) throw new InvalidArgumentError(`'${badOne}' is not one of ${allowed!.join(', ')}.`);
    return items;
  };
}

/** A comma-separated list of integers ≥ 0. */
export function intListArg(v: string): number[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length || items.some((s) => !/^\d+$/.test(s))) throw new InvalidArgumentError('expected comma-separated integers ≥ 0.');
  return items.map(Number);
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The flag that sets each train() setting, for the errors the CLI prints: train() names its
 * config keys ('config.schedule.maxEpochs'), which a CLI user never wrote. Most flags are the
 * setting's last name in kebab case; the others are CONFIG_ALIASES, the short names train()
 * also suggests (`epochs` for schedule.maxEpochs).
 */
const FLAG_OF: Record<string, string> = {
  ...Object.fromEntries(['backbone', 'experiment', 'protocol', 'fold', 'splitsDir', 'imageSize', 'batchSize', 'seed', 'splitSeed', 'kFolds',
    'bxLocoFold', 'device', 'precision', 'lossNormalize', 'afcLoss', 'pretrained', 'pretrainedDir', 'workers', 'checkpointEvery',
    'schedule.plateauPatience', 'schedule.plateauFactor', 'schedule.minLr', 'optim.decoupled', 'data.covidCxr', 'data.afcReleases',
  ].map((k) => [k, `--${kebab(k.slice(k.lastIndexOf('.') + 1))}`])),
  // learningRate is an alias of optim.lr, not a flag
  ...Object.fromEntries(Object.entries(CONFIG_ALIASES).filter(([a]) => a !== 'learningRate').map(([a, k]) => [k, `--${kebab(a)}`])),
  'data.onBadRecord': '--skip-bad',
};

/**
 * An error message as the CLI prints it: each `config.<key>` it names is followed by its flag.
 *
 * @example withFlags("train: config.schedule.maxEpochs must be ...") // "train: config.schedule.maxEpochs (--epochs) must be ..."
 */
export function withFlags(message: string): string {
  return message.replace(/\bconfig\.([A-Za-z][\w.]*[A-Za-z0-9])/g, (m, key: string) => {
    const flag = FLAG_OF[key];
    return flag && !message.includes(`${m} (${flag})`) ? `${m} (${flag})` : m;
  });
}

/**
 * A path to write to, not empty: `--out ''` resolved to the working directory (mdmt demo and
 * mdmt experiment trained there, predict printed to stdout as without --out).
 */
export function outPath(v: string): string {
  if (!v.trim()) throw new InvalidArgumentError('expected a path (an empty one would be the working directory).');
  return v;
}

/** A path that must exist. */
export function existingPath(v: string): string {
  if (!fs.existsSync(v)) throw new InvalidArgumentError(`'${v}' does not exist.`);
  return path.resolve(v);
}

/** A default as the help shows it: 1e-3 rather than 0.001. */
const helpNum = (v: number): string => (v !== 0 && Math.abs(v) < 0.01 ? v.toExponential() : String(v));

/** The training flags every command that trains accepts (defaults named from config.ts). */
export function addTrainFlags(cmd: Command): Command {
  const o = PAPER_OPTIM, s = PAPER_SCHEDULE;
  return cmd
    .option('--config <file>', 'JSON file of train() settings (flags override it)', existingPath)
    .option('--data-afc <dir>', 'AIforCOVID root (clinical sheets, imgs*, processed/masks)', existingPath)
    .option('--data-bx <dir>', 'BRIXIA root (metadata_global_v2.csv, dicom_clean/)', existingPath)
    .option('--covid-cxr <dir>', 'the covid-cxr subset (labels.csv): both tasks from one folder', existingPath)
    .option('--afc-releases <list>', 'AIforCOVID releases to read, e.g. 1 or 1,2 (default 1,2,3: AIforCOVID.xlsx, _r2, _r3)', intListArg)
    .option('--skip-bad', "leave out bad rows and images instead of failing (data.onBadRecord 'skip'): each is named; images that cannot be decoded are also listed in result.json")
    .addOption(new Option('--bins <rule>', 'BRIXIA global-score bins').choices(['paper', 'code']))
    .addOption(new Option('--preset <name>', `'code': the authors' code values where they differ from the paper (wd ${helpNum(CODE_PRESET.optim.weightDecay)}, patience ${CODE_PRESET.schedule.earlyStopping}, warm-up ${CODE_PRESET.schedule.warmupEpochs}, code bins, MSE τ1, no ImageNet norm, BRIXIA split per image with raw manufacturer centres)`).choices(['paper', 'code']))
    .option('--image-size <n>', `square input side (paper ${PAPER_RUN.imageSize})`, intArg())
    .option('--batch-size <n>', `batch size (paper ${PAPER_RUN.batchSize})`, intArg())
    .option('--epochs <n>', `maximum epochs (paper ${s.maxEpochs})`, intArg())
    .option('--warmup <n>', `warm-up epochs without best-model selection or early stopping (paper ${s.warmupEpochs})`, intArg())
    .option('--patience <n>', `early-stopping patience after warm-up (paper ${s.earlyStopping}; code ${CODE_PRESET.schedule.earlyStopping})`, intArg())
    .option('--plateau-patience <n>', `ReduceLROnPlateau patience (paper ${s.plateauPatience})`, intArg())
    .option('--plateau-factor <x>', `ReduceLROnPlateau factor (paper ${s.plateauFactor})`, numArg())
    .option('--min-lr <x>', `ReduceLROnPlateau minimum lr (paper ${helpNum(s.minLr)})`, numArg())
    .option('--lr <x>', `Adam learning rate (paper ${helpNum(o.lr)})`, numArg())
    .option('--wd <x>', `weight decay (paper ${helpNum(o.weightDecay)}; code ${helpNum(CODE_PRESET.optim.weightDecay)})`, numArg())
    .option('--decoupled', 'AdamW-style decoupled weight decay')
    .option('--seed <n>', 'seed of init, data order, augmentation, dropout (default 0)', intArg())
    .option('--split-seed <n>', 'seed of the split files (default 0)', intArg())
    .option('--k-folds <n>', `CV folds, at least 3 (paper ${PAPER_RUN.kFolds})`, intArg())
    .option('--bx-loco-fold <n>', 'BRIXIA fold paired with every LOCO fold (default 0)', intArg())
    .option('--device <name>', 'cpu, cuda or cuda:N (default $MDMT_DEVICE or cpu)')
    .addOption(new Option('--precision <p>', 'training arithmetic: fp32, or bf16 mixed precision (cuda only; default fp32)').choices(['fp32', 'bf16']))
    .addOption(new Option('--loss-normalize <how>', 'Eq. 2 normalisation (default batch)').choices(['batch', 'masked']))
    .addOption(new Option('--afc-loss <loss>', 'τ1 loss (paper ce; code mse)').choices(['ce', 'mse']))
    .option('--afc-fraction <x>', 'fixed τ1 fraction of each MDMT batch (default: random, proportional to size)', numArg())
    .option('--no-augment', 'no training augmentation')
    .option('--no-imagenet-normalize', 'no ImageNet mean/std after [0,1] scaling')
    .option('--pretrained <file>', 'ImageNet weights of the backbone (safetensors, torchvision/timm keys); one backbone only', existingPath)
    .option('--pretrained-dir <dir>', 'folder of <backbone>.safetensors ImageNet weights (default $MDMT_WEIGHTS; scripts/export_weights.py --all)', existingPath)
    .option('--random-init', 'start from random weights even when $MDMT_WEIGHTS is set (not comparable with the paper)')
    .option('--workers <n>', 'loader worker threads (0 = in-process; default min(cores − 1, 8))', intArg())
    .option('--cache-dir <dir>', 'disk cache of preprocessed images', outPath)
    .option('--checkpoint-every <n>', 'write the resume checkpoint every n epochs and at each new best epoch (default 1)', intArg())
    .option('--eager', 'run op by op instead of the compiled step plan (debugging, benchmarks)')
    .option('--no-progress', 'no progress bars or per-epoch lines (the data summary and warnings are still printed)');
}

type Opts = Record<string, unknown>;

/**
 * `--config` keys that `mdmt experiment` sets per job, or takes as its own flags: the flag to
 * use instead. checkKeys alone sent `folds` to 'did you mean fold?' and `fold` on to 'did you
 * mean folds?', neither naming the file.
 */
export const SWEEP_FLAGS: Readonly<Record<string, string>> = {
  backbone: '--backbones', backbones: '--backbones', experiment: '--experiments', experiments: '--experiments',
  protocol: '--protocols', protocols: '--protocols', fold: '--folds / --loco-folds', folds: '--folds / --loco-folds', locoFolds: '--loco-folds',
  outDir: '--runs', runsDir: '--runs', splitsDir: '--runs (the sweep writes <runs>/splits)', init: '--experiments (FT and MDMT start from the sweep\'s STL runs of the same fold)',
};

/**
 * Reads `--config` (a JSON object) naming the file on failure; `perJob` names the keys a
 * command sets itself (SWEEP_FLAGS for mdmt experiment) and the flag that does.
 */
export function readConfigFile(file: string, perJob?: Readonly<Record<string, string>>): Partial<TrainConfigInput> {
  let v: unknown;
  try {
    // a byte-order mark (Notepad, PowerShell's Out-File) is no JSON token: it failed as an invisible "Unexpected token"
    v = JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new MdmtError('ECONFIG', '--config', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MdmtError('ECONFIG', '--config', `${file} must hold a JSON object`);
  // the flags are merged into these groups: a number or a string would be spread into nothing (or into 'optim.0')
  for (const k of SETTING_GROUPS) {
    const e = groupError((v as Record<string, unknown>)[k]);
    if (e) throw new MdmtError('ECONFIG', '--config', `${file}: config.${k} ${e}`);
  }
  for (const k of Object.keys(v)) {
    // JSON null is not "the default": `imageSize: null` trained at the paper's 256 px
    if ((v as Record<string, unknown>)[k] === null) throw new MdmtError('ECONFIG', '--config', `${file}: config.${k} is null: leave it out for the default, or give a value`);
    if (perJob && Object.hasOwn(perJob, k)) throw new MdmtError('ECONFIG', '--config', `${file}: '${k}' is not a --config setting here (the file holds the train() settings every job shares; the command sets this one per job): use ${perJob[k]}`);
  }
  checkKeys(v, TRAIN_CONFIG_KEYS, { op: '--config', where: file, aliases: CONFIG_ALIASES });
  return v as Partial<TrainConfigInput>;
}

/**
 * The train() settings of the parsed training flags (without backbone / experiment / outDir);
 * `perJob`: the --config keys the command sets itself (readConfigFile).
 *
 * @example trainBase(cmd.opts()).schedule?.maxEpochs
 */
export function trainBase(o: Opts, perJob?: Readonly<Record<string, string>>): Partial<TrainConfigInput> {
  const file = o.config ? readConfigFile(o.config as string, perJob) : {};
  const code = o.preset === 'code';
  const set = <T>(v: T | undefined, d: T | undefined) => (v !== undefined ? v : d);
  const data = { ...(code ? CODE_PRESET.data : {}), ...(file.data ?? {}) };
  if (o.dataAfc) data.afc = o.dataAfc as string;
  if (o.dataBx) data.bx = o.dataBx as string;
  if (o.covidCxr) data.covidCxr = o.covidCxr as string;
  if (o.bins) data.bins = o.bins as 'paper' | 'code';
  if (o.afcReleases) {
    if (!data.afc) throw new MdmtError('ECONFIG', '--afc-releases', 'selects the sheets of --data-afc, which was not given: it would have no effect');
    data.afcReleases = o.afcReleases as number[];
  }
  if (o.skipBad) data.onBadRecord = 'skip';
  if (o.cacheDir) data.cacheDir = path.resolve(o.cacheDir as string);
  const schedule = { ...(code ? CODE_PRESET.schedule : {}), ...(file.schedule ?? {}) };
  const sch: [string, keyof NonNullable<TrainConfigInput['schedule']>][] = [
    ['epochs', 'maxEpochs'], ['warmup', 'warmupEpochs'], ['patience', 'earlyStopping'],
    ['plateauPatience', 'plateauPatience'], ['plateauFactor', 'plateauFactor'], ['minLr', 'minLr'],
  ];
  for (const [flag, key] of sch) if (o[flag] !== undefined) schedule[key] = o[flag] as number;
  const optim = { ...(code ? CODE_PRESET.optim : {}), ...(file.optim ?? {}) };
  if (o.lr !== undefined) optim.lr = o.lr as number;
  if (o.wd !== undefined) optim.weightDecay = o.wd as number;
  if (o.decoupled) optim.decoupled = true;
  const out: Partial<TrainConfigInput> = {
    ...file, data, schedule, optim,
    imageSize: set(o.imageSize as number, file.imageSize),
    batchSize: set(o.batchSize as number, file.batchSize),
    seed: set(o.seed as number, file.seed),
    splitSeed: set(o.splitSeed as number, file.splitSeed),
    kFolds: set(o.kFolds as number, file.kFolds),
    bxLocoFold: set(o.bxLocoFold as number, file.bxLocoFold),
    device: set(o.device as string, file.device),
    precision: set(o.precision as 'fp32' | 'bf16', file.precision),
    lossNormalize: set(o.lossNormalize as 'batch' | 'masked', file.lossNormalize),
    afcLoss: set(o.afcLoss as 'ce' | 'mse', set(file.afcLoss, code ? CODE_PRESET.afcLoss : undefined)),
    pretrained: o.randomInit ? false : set(o.pretrained as string, file.pretrained),
    pretrainedDir: set(o.pretrainedDir as string, file.pretrainedDir),
    workers: set(o.workers as number, file.workers),
    checkpointEvery: set(o.checkpointEvery as number, file.checkpointEvery),
    progress: o.progress !== false,
    eager: o.eager ? true : file.eager,
  };
  if (o.randomInit && o.pretrained) throw new MdmtError('ECONFIG', '--random-init', 'contradicts --pretrained');
  if (o.augment === false) out.augment = false;
  if (o.imagenetNormalize === false) out.imagenetNormalize = false;
  else if (code && file.imagenetNormalize === undefined) out.imagenetNormalize = CODE_PRESET.imagenetNormalize;
  if (o.afcFraction !== undefined) out.mixing = { afcFraction: o.afcFraction as number };
  for (const k of Object.keys(out) as (keyof typeof out)[]) if (out[k] === undefined) delete out[k];
  return out;
}

/** The settings of a command after requireData(): the data roots are there. */
export type WithData = Partial<TrainConfigInput> & Pick<TrainConfigInput, 'data'>;

/** A usage error (exit 2) when no data source was given by flag or --config. */
export function requireData(base: Partial<TrainConfigInput>, need: { afc?: boolean; bx?: boolean } = {}): asserts base is WithData {
  const d = base.data ?? {};
  if (d.covidCxr) return;
  if (!d.afc && !d.bx) throw new MdmtError('ECONFIG', '', 'no data: give --data-afc and/or --data-bx, or --covid-cxr (or data in --config)');
  if (need.afc && !d.afc) throw new MdmtError('ECONFIG', '', 'this experiment needs --data-afc (or --covid-cxr)');
  if (need.bx && !d.bx) throw new MdmtError('ECONFIG', '', 'this experiment needs --data-bx (or --covid-cxr)');
}
