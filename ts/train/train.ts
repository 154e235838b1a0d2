/**
 * `train(config)`: one model, one fold, one run directory (DESIGN.md §5). The loop of the
 * paper (§1.5): Adam, ReduceLROnPlateau on the validation total loss, warm-up epochs that
 * keep no best model and do not count for early stopping, best model on the validation
 * τ1 loss (τ2 for STL τ2), test metrics of the best model. Every step is a compiled step plan
 * (ts/train/step.ts; `eager: true` runs op by op inside tidy) and
 * evaluation under noGrad in eval mode, so the live-tensor count is flat across epochs
 * (recorded per epoch as `liveTensors`).
 *
 * Resume: after every epoch the run directory gets a log line, then (if the epoch is the
 * best) best.safetensors, then checkpoint.safetensors (weights, Adam state, schedule, RNG
 * and history; each written to a temporary file and renamed). A run started on a directory
 * with a checkpoint continues after its epoch; data order, augmentation and dropout masks
 * are functions of (seed, epoch, step), so the resumed run reproduces the uninterrupted one.
 * A directory with result.json is finished: train() returns it without training.
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkOptions, fewOf, isPlain, MdmtError } from '../errors';
import { Loader } from '../data/loader';
import { ImageWarnings } from '../data/warnings';
import type { DataRecord } from '../data/records';
import { seedOf } from '../data/rng';
import { setDropoutSeed } from '../ops/dropout';
import { Adam } from '../optim/adam';
import { manualSeed } from '../random';
import type { EpochRecord, RunResult } from '../report/types';
import { native } from '../native/binding';
import { getDefaultDevice, liveTensorCount, normDevice, setDefaultDevice, type Tensor } from '../tensor';
import { checkStlBxFold, experimentTasks, resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config';
import { appendFile, atomicWriteFile, atomicWriteJson, loadCheckpoint, loadWeights, readJson, removeStaleTemps, type RunState, saveCheckpoint, saveWeights } from './checkpoint';
import { ensureDir } from '../dirs';
import { describeNonFinite, firstNonFinite } from './finite';
import { checkRunDir } from './identity';
import { busyMessage, lockHolder, runKey, tryLock, unlock } from './lock';
import { loadRecords, prepareFold, scanSplit } from './data';
import { evaluateModel, type ModelEval } from './evaluate';
import type { ConfusionMatrix, FoldMetrics } from './metrics';
import { buildTaskNet, type TaskNet } from './models';
import { calibrateRun } from '../predict/calibration';
import { checkHooks, progressHooks, RANDOM_INIT_NOTE, settlingHooks, SILENT, type TrainHooks } from './progress';
import { checkSignal, throwIfAborted, type TrainOptions } from './abort';
import { checkInits, ownPretraining, provenanceMeta, type Pretraining } from './provenance';
import { ArenaGroup } from '../plan/executor';
import { evalForward, trainStep, type EvalForward, type TrainStep } from './step';
import { EpochSchedule } from './schedule';

/** File names inside a run directory. */
export const RUN_FILES = {
  config: 'config.json',
  log: 'log.jsonl',
  checkpoint: 'checkpoint.safetensors',
  best: 'best.safetensors',
  result: 'result.json',
  split: 'split',
} as const;

export interface TrainResult {
  /** one record per epoch (also log.jsonl) */
  history: EpochRecord[];
  /** the selected epoch; `selected` is false when no epoch passed warm-up (the last epoch is used) */
  best: { epoch: number; selectLoss: number; selected: boolean };
  /** checkpoint.safetensors of the last epoch (weights, optimiser, schedule, RNG, history) */
  checkpointPath: string;
  /** best.safetensors: weights of the best epoch (what FT and MDMT start from) */
  bestPath: string;
  /** test metrics of the best model on the main task (τ1, or τ2 for stl_bx); MDMT adds τ2 */
  metrics: { test: FoldMetrics; cm: ConfusionMatrix; bx?: FoldMetrics; bxCm?: ConfusionMatrix };
  /** what the report reads (also result.json) */
  result: RunResult & { stopReason: string; epochs: number; seconds: number; pretraining: Pretraining };
}

export type { RunState } from './checkpoint';

function makeLoader(cfg: TrainConfig, records: DataRecord[], train: boolean, hooks: TrainHooks, warnings: ImageWarnings): Loader {
  return new Loader(records, {
    size: cfg.imageSize, batchSize: train ? cfg.batchSize : cfg.evalBatchSize, train, seed: cfg.seed,
    augment: train && cfg.augment !== false ? (cfg.augment === true ? {} : cfg.augment) : false,
    normalize: cfg.imagenetNormalize, workers: cfg.workers,
    // a fixed τ1 fraction shapes MDMT's training batches only (as afcLoss): evaluation sees every
    // record exactly once, and an STL job of a sweep with --afc-fraction drew its one data set
    // cyclically (a short last batch filled with repeats) where a plain STL run does not
    mix: train && cfg.mixing !== 'random' && cfg.experiment === 'mdmt' ? cfg.mixing : 'proportional',
    cache: cfg.data.cacheDir ? 'disk' : 'memory', cacheDir: cfg.data.cacheDir,
    onBadRecord: cfg.data.onBadRecord ?? 'error', log: (m) => hooks.onLog?.(`data: ${m}`), warnings,
  });
}

function epochRecord(epoch: number, trainLoss: number, lr: number, ev: ModelEval, main: 'AFC' | 'BX', isBest: boolean, seconds: number): EpochRecord & Record<string, unknown> {
  const m = main === 'AFC' ? ev.afc : ev.bx;
  return {
    epoch, trainLoss, valLoss: ev.total, lr,
    ...(ev.afc ? { valAfcLoss: ev.afc.loss } : {}),
    ...(ev.bx ? { valBxLoss: ev.bx.loss } : {}),
    ...(m ? { valAcc: m.metrics.acc, valF1: m.metrics.f1, valGmean: m.metrics.gmean } : {}),
    isBest, liveTensors: liveTensorCount(), seconds,
  };
}

/**
 * Throws EDIVERGED naming the first parameter, buffer or Adam moment (the running record of
 * the gradients) holding a NaN or ±inf: one device reduction per epoch (ts/train/finite.ts).
 */
function checkFinite(module: TaskNet['module'], opt: Adam, epoch: number, lr: number): void {
  const os = opt.stateDict();
  const params = module.namedParameters();
  const named: [string, Tensor][] = [
    ...params, ...module.namedBuffers(),
    ...params.map(([k], i) => [`gradient moment optim.m.${k}`, os.m[i]] as [string, Tensor]),
    ...params.map(([k], i) => [`gradient moment optim.v.${k}`, os.v[i]] as [string, Tensor]),
  ];
  const bad = firstNonFinite(named);
  if (bad)
    throw new MdmtError('EDIVERGED', 'train', `training diverged in epoch ${epoch} (lr ${lr}): '${bad.name}' holds ${describeNonFinite(bad)} (a NaN input image, or a learning rate too high)`);
}

/**
 * Trains one model on one fold and returns its history, best epoch, checkpoint path and test
 * metrics; resumes from `<outDir>/checkpoint.safetensors` when present. Without `hooks`,
 * `config.progress: true` draws progress bars on stderr. Aborting `options.signal` stops the
 * run before its next batch (ts/train/abort.ts): it rejects with AbortError, cleaned up as on
 * any error, with nothing of the unfinished epoch written.
 *
 * @example
 * const r = await train({ backbone: 'shufflenet_v2_x0_5', experiment: 'stl_afc', outDir: 'runs/a',
 *   data: { afc: 'data/AIforCOVID', bx: 'data/BRIXIA' }, imageSize: 64, batchSize: 16, schedule: { maxEpochs: 5, warmupEpochs: 1 } });
 * console.log(r.best.epoch, r.metrics.test.acc);
 */
export async function train(input: TrainConfigInput, hooksIn?: TrainHooks, options?: TrainOptions): Promise<TrainResult> {
  checkPlacement(input, hooksIn);
  const cfg = resolveTrainConfig(input);
  checkHooks('train', hooksIn);
  checkOptions('train', options, { signal: true });
  const signal = options?.signal;
  checkSignal('train', signal, 'options.signal');
  checkStlBxFold(input, cfg);
  // an async hook's promise is awaited: its rejection stops the run as a hook that throws does
  const { hooks, settle } = settlingHooks(hooksIn ?? (cfg.progress ? progressHooks() : SILENT));
  if (cfg.device !== 'cpu') {
    const d = native().devices().find((x) => x.name === normDevice(cfg.device));
    if (!d?.available) throw new MdmtError('EDEVICE', 'train', `config.device '${cfg.device}' is not available: ${d?.reason ?? 'no such device'} (mdmt doctor lists the devices)`);
  }
  throwIfAborted(signal, 'train', `before it started on ${cfg.outDir}`);
  const dir = ensureDir(cfg.outDir, 'train', 'config.outDir');
  // the lock experiment() takes per job; a caller that holds it already (experiment) keeps it
  const took = !lockHolder(dir)?.mine;
  // the file lock is per process: two train() calls of one process on one directory both held
  // it and interleaved their logs and checkpoints
  const key = runKey(dir);  // the real path: a symlink to the directory is the same run
  if (inProcess.has(key)) throw new MdmtError('EBUSY', 'train', `${dir} is being trained by another train() call of this process: await it, or use another outDir`);
  if (took && !tryLock(dir)) throw new MdmtError('EBUSY', 'train', busyMessage(dir));
  inProcess.add(key);
  try {
    return await trainLocked(cfg, hooks, settle, signal);
  } finally {
    inProcess.delete(key);
    if (took) unlock(dir);
  }
}

/**
 * A signal given as a setting or a hook (where train() would refuse it as an unknown key)
 * is named with the place it goes: train()'s third argument, never written to config.json.
 */
function checkPlacement(input: unknown, hooks: unknown): void {
  for (const [v, where] of [[input, 'config'], [hooks, 'hooks']] as const)
    if (v !== null && typeof v === 'object' && 'signal' in v)
      throw new MdmtError('EINVAL', 'train', `${where}.signal: an AbortSignal is train()'s third argument, train(config, hooks, { signal }) (hooks may be undefined)`);
}

/**
 * The TrainResult of a finished run's result.json, with the fields train() returns checked
 * (an edited or foreign file failed with a TypeError, naming nothing).
 */
function readDone(file: string): TrainResult {
  const done = readJson<Record<string, unknown> | null>(file);
  const best = isPlain(done) ? done.best : undefined, metrics = isPlain(done) ? done.metrics : undefined;
  const missing = !isPlain(done) ? 'the whole object' : !isPlain(done.result) ? "'result'" : !Array.isArray(done.history) ? "'history'"
    : !isPlain(best) || typeof best.epoch !== 'number' ? "'best.epoch'" : !isPlain(metrics) || !isPlain(metrics.test) ? "'metrics.test'" : '';
  if (missing)
    throw new MdmtError('EDATA', 'train', `${file} lacks ${missing} (not a result.json that train() wrote, or edited by hand): delete it and run again`);
  return done as unknown as TrainResult;
}

/** Run directories a train() call of this process is in (resolved paths). */
const inProcess = new Set<string>();

/** train() once the run directory is locked. */
async function trainLocked(cfg: TrainConfig, hooks: TrainHooks, settle: () => Promise<void>, signal: AbortSignal | undefined): Promise<TrainResult> {
  const dir = cfg.outDir;
  // nothing of an unfinished epoch is written: the run resumes after its last checkpoint
  const stopIfAborted = (where: string) => throwIfAborted(signal, 'train', `${where} (${dir}: trained again, it resumes after its last checkpointed epoch)`);
  const file = (k: keyof typeof RUN_FILES) => path.join(dir, RUN_FILES[k]);
  checkRunDir(cfg);
  if (fs.existsSync(file('result'))) {
    // the stored paths are where the run was trained; a copied or moved run answers with its own
    const done = readDone(file('result'));
    return { ...done, checkpointPath: file('checkpoint'), bestPath: file('best') };
  }
  // a process killed while writing left its temporary file (as large as the checkpoint)
  const stale = removeStaleTemps(dir);
  if (stale.length) hooks.onLog?.(`${path.basename(dir)}: removed ${fewOf(stale, 3)}, left by an interrupted write`);
  atomicWriteJson(file('config'), cfg);

  const prevDevice = getDefaultDevice();
  const tasks = experimentTasks(cfg.experiment);
  // the authors' MSE for τ1 is in their multi-task config only; their STL τ1 loss (BCE on the
  // softmax of 2 classes with one-hot targets) equals the cross-entropy
  const lossCfg = { afcLoss: cfg.experiment === 'mdmt' ? cfg.afcLoss : 'ce' as const, lossNormalize: cfg.lossNormalize, device: cfg.device };
  let net: TaskNet | undefined;
  let opt: Adam | undefined;
  let step: TrainStep | undefined;
  let evalFwd: EvalForward | undefined;
  const loaders: Loader[] = [];
  // the three loaders' image warnings as one list: each kind once for the run, then a count
  const warnings = new ImageWarnings((m) => hooks.onLog?.(`data: ${m}`));
  let finished = false;
  try {
    setDefaultDevice(cfg.device);
    // both tasks' records even for an STL run: tasks that share images or patients are split together
    const recs = await loadRecords(cfg.data, undefined, (m) => hooks.onLog?.(`data: ${m}`));
    stopIfAborted('while reading the data');
    // what it says is of the split, the same for every run of the fold: a sweep prints it once (onceAcrossJobs)
    const folds = prepareFold(cfg, recs, (m) => hooks.onLog?.(`data: ${m}`));
    const own = ownPretraining(cfg);
    const pretraining = cfg.experiment === 'ft' || cfg.experiment === 'mdmt' ? checkInits(cfg, folds, own) : own;
    if (!pretraining.imagenet) hooks.onLog?.(`${path.basename(dir)}: ${RANDOM_INIT_NOTE}`);
    const bestMeta = provenanceMeta(cfg, folds, pretraining);
    const part = (p: 'train' | 'val' | 'test') => [...(folds.afc?.[p] ?? []), ...(folds.bx?.[p] ?? [])];
    const [trainLoader, valLoader, testLoader] = (['train', 'val', 'test'] as const).map((p) => {
      const l = makeLoader(cfg, part(p), p === 'train', hooks, warnings);
      loaders.push(l);
      return l;
    });
    manualSeed(cfg.seed);
    net = buildTaskNet(cfg);
    net.module.to(cfg.device);
    opt = new Adam(net.module.parameters(), {
      lr: cfg.optim.lr, betas: [cfg.optim.beta1, cfg.optim.beta2], eps: cfg.optim.eps,
      weightDecay: cfg.optim.weightDecay, decoupled: cfg.optim.decoupled,
    });
    // the schedule drives opt.lr (as PyTorch's schedulers): the optimiser is the lr's one owner
    const schedule = new EpochSchedule(opt, cfg.schedule);
    let state: RunState = { epoch: 0, schedule: schedule.state(), history: [], seed: cfg.seed, seconds: 0 };
    if (fs.existsSync(file('checkpoint'))) {
      state = loadCheckpoint(file('checkpoint'), net.module, opt);
      // the log and the result are rebuilt from the history: one record per finished epoch
      if (state.history.length !== state.epoch || state.history.some((h, i) => h.epoch !== i + 1))
        throw new MdmtError('EDATA', 'train', `${file('checkpoint')}: its history holds epochs [${fewOf(state.history.map((h) => String(h.epoch)), 5)}], not 1..${state.epoch} as its epoch ${state.epoch} says (damaged: delete it to train the run again from epoch 1)`);
      schedule.load(state.schedule);
      hooks.onLog?.(`${path.basename(dir)}: resuming after epoch ${state.epoch}`);
    }
    const arena = new ArenaGroup(); // training and evaluation never run at once: one arena
    step = trainStep(net, opt, { ...lossCfg, eager: cfg.eager, precision: cfg.precision }, arena);
    evalFwd = evalForward(net, { device: cfg.device, eager: cfg.eager }, arena);
    // the log holds exactly the checkpointed epochs (lines written after it are redone)
    atomicWriteFile(file('log'), state.history.map((h) => JSON.stringify(h) + '\n').join(''));
    const last = state.history[state.history.length - 1];
    // the validation pass of the latest and of the best epoch run by this process (calibration reuses one)
    let lastVal: { epoch: number; ev: ModelEval } | undefined, bestVal: typeof lastVal;
    let stopReason = last && (last as { stop?: string }).stop ? String((last as { stop?: string }).stop) : '';
    // every image read once now (into the cache the epochs read): the unreadable ones fail the run, or are left out
    const { bad, keys: skippedKeys } = await scanSplit({ train: trainLoader, val: valLoader, test: testLoader }, folds, {
      dir, skip: cfg.data.onBadRecord === 'skip', resumed: state, log: (m) => hooks.onLog?.(m),
      check: (part) => stopIfAborted(`while reading the ${part} images before training`),
    });
    warnings.flush();
    stopIfAborted(`before epoch ${state.epoch + 1}`);
    hooks.onStart?.({ label: `${cfg.backbone} ${cfg.experiment} ${cfg.protocol}/${folds.name}`, startEpoch: state.epoch, maxEpochs: cfg.schedule.maxEpochs, batchesPerEpoch: trainLoader.length });
    await settle();

    for (let epoch = state.epoch + 1; !stopReason && epoch <= cfg.schedule.maxEpochs; epoch++) {
      const t0 = Date.now();
      const lr = opt.lr;
      net.module.train();
      // trainLoss: the mean over the epoch's training samples (each batch's loss weighted by its
      // size, as the authors' loop), not the mean of batch means a short last batch would skew
      let lossSum = 0, nb = 0, samples = 0;
      const batches = trainLoader.length;
      for await (const b of trainLoader.epoch(epoch)) {
        stopIfAborted(`in epoch ${epoch} after ${nb} of ${batches} batches`);
        // BatchNorm cannot train on one sample (as in PyTorch): a trailing 1-sample batch is skipped
        if (b.n < 2) continue;
        setDropoutSeed(seedOf(cfg.seed, 'dropout', epoch, b.index));
        const loss = step.run(b);
        if (!Number.isFinite(loss)) throw new MdmtError('EDIVERGED', 'train', `loss is ${loss} at epoch ${epoch}, batch ${b.index} (lr ${lr}): training diverged`);
        lossSum += loss * b.n;
        samples += b.n;
        nb++;
        hooks.onBatch?.({ epoch, batch: nb, batches, loss });
        await settle();
      }
      if (nb === 0)
        throw new MdmtError('EDATA', 'train', `epoch ${epoch} had no training batch: ${trainLoader.records.length} training records in batches of ${cfg.batchSize} (a 1-sample batch is skipped: BatchNorm cannot train on it); nothing would be trained`);
      checkFinite(net.module, opt, epoch, lr);
      const ev = await evaluateModel(net, valLoader, { ...lossCfg, op: 'train', pass: `the validation pass of epoch ${epoch} (lr ${lr})`, signal }, evalFwd);
      const select = tasks.main === 'AFC' ? ev.afc!.loss : ev.bx!.loss;
      const r = schedule.step(epoch, ev.total, select);
      state.seconds += (Date.now() - t0) / 1000;
      const rec = epochRecord(epoch, lossSum / Math.max(samples, 1), lr, ev, tasks.main, r.isBest, (Date.now() - t0) / 1000);
      if (r.stop) (rec as Record<string, unknown>).stop = stopReason = r.reason;
      appendFile(file('log'), JSON.stringify(rec) + '\n');
      if (r.isBest) saveWeights(file('best'), net.module, { epoch: String(epoch), ...bestMeta });
      lastVal = { epoch, ev };
      if (r.isBest) bestVal = lastVal;
      state = { epoch, schedule: schedule.state(), history: [...state.history, rec], seed: cfg.seed, seconds: state.seconds, skipped: skippedKeys };
      // with every new best too: best.safetensors must never be ahead of the checkpoint a resume
      // starts from (it would hold an epoch the resumed run redoes, maybe to another best)
      if (r.isBest || epoch % cfg.checkpointEvery === 0 || r.stop || epoch === cfg.schedule.maxEpochs) saveCheckpoint(file('checkpoint'), net.module, opt, state);
      hooks.onEpoch?.(rec);
      await settle();
    }
    if (!stopReason) stopReason = 'max_epochs';

    // the best model (or the last one when warm-up never ended) on the test set
    const selected = schedule.bestEpoch > 0;
    if (!selected) saveWeights(file('best'), net.module, { epoch: String(state.epoch), selected: 'false', ...bestMeta });
    else loadWeights(file('best'), net.module);
    // the weights in best.safetensors were evaluated on the validation split in the epoch that
    // saved them (same weights and statistics, same forward): reuse that pass when this process ran it
    const kept = selected ? bestVal : lastVal;
    const valEv = kept?.epoch === (selected ? schedule.bestEpoch : state.epoch) ? kept.ev
      : await evaluateModel(net, valLoader, { ...lossCfg, op: 'train', pass: `the validation pass of the best model (epoch ${selected ? schedule.bestEpoch : state.epoch})`, signal }, evalFwd);
    // the test pass runs once: a batch shape the validation passes (all made before it, in every
    // process, resumed or not) did not plan runs eagerly instead of being recorded for one use
    const ev = await evaluateModel(net, testLoader, { ...lossCfg, once: true, op: 'train', pass: `the test pass of the best model (epoch ${selected ? schedule.bestEpoch : state.epoch})`, signal }, evalFwd);
    // temperature scaling per head, fitted on the validation split and applied only if it passes its
    // cross-validated check there (ts/predict/calibration.ts); stored with the test outputs
    const centre = new Map(part('test').map((r) => [`${r.task}:${r.id}`, r.center]));
    const cal = calibrateRun(valEv, ev, (t, id) => centre.get(`${t.toUpperCase()}:${id}`) ?? '');
    // no test records of the main task (a jointly split LOCO centre without τ2 films): no test metrics
    const main = (tasks.main === 'AFC' ? ev.afc : ev.bx) ?? { metrics: { acc: NaN, f1: NaN, gmean: NaN, cm: [] as number[][] } };
    const pick = (e: typeof main) => ({ acc: e.metrics.acc, f1: e.metrics.f1, gmean: e.metrics.gmean });
    const bestEpoch = selected ? schedule.bestEpoch : state.epoch;
    const result: TrainResult['result'] = {
      backbone: cfg.backbone, experiment: cfg.experiment, protocol: cfg.protocol, fold: folds.name,
      metrics: pick(main), cm: main.metrics.cm,
      // NaN without τ2 test records (a LOCO centre without films): the report names it, not a silent gap
      ...(cfg.experiment === 'mdmt' ? { bxMetrics: ev.bx ? pick(ev.bx) : { acc: NaN, f1: NaN, gmean: NaN } } : {}),
      history: state.history, bestEpoch, warmupEpochs: cfg.schedule.warmupEpochs, stopReason, epochs: state.epoch, seconds: state.seconds,
      imagenet: pretraining.imagenet, pretraining, ...cal,
      // records left out as unreadable (onBadRecord 'skip'): the metrics cover the others
      ...(bad.length ? { skipped: bad } : {}),
    };
    const out: TrainResult = {
      history: state.history,
      best: { epoch: bestEpoch, selectLoss: selected ? schedule.bestSelectLoss : (state.history[state.history.length - 1]?.[tasks.main === 'AFC' ? 'valAfcLoss' : 'valBxLoss'] ?? NaN), selected },
      checkpointPath: file('checkpoint'), bestPath: file('best'),
      metrics: { test: result.metrics, cm: main.metrics.cm, ...(cfg.experiment === 'mdmt' && ev.bx ? { bx: pick(ev.bx), bxCm: ev.bx.metrics.cm } : {}) },
      result,
    };
    stopIfAborted('before writing result.json');
    atomicWriteJson(file('result'), out);
    if (!cfg.keepCheckpoint) fs.rmSync(file('checkpoint'), { force: true });
    finished = true;
    return out;
  } finally {
    // an onEnd that throws (the caller's code) skipped the clean-up below, leaving the model,
    // optimiser and plans allocated, and replaced the run's own error with its own
    let hookError: { e: unknown } | undefined;
    try {
      hooks.onEnd?.();
      await settle();
    } catch (e) {
      hookError = { e };
    }
    step?.dispose();
    evalFwd?.dispose();
    opt?.dispose();
    net?.module.dispose();
    await Promise.all(loaders.map((l) => l.close()));
    warnings.flush();
    setDefaultDevice(prevDevice);
    // a finished run's result.json is written: the hook's error is still the caller's to see
    // eslint-disable-next-line no-unsafe-finally
    if (hookError && finished) throw hookError.e;
  }
}
