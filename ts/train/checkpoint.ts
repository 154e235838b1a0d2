/**
 * Run files written so that a kill at any moment leaves either the old or the new version:
 * every file goes to `<name>.tmp-<pid>` first and is renamed over the old one (rename is
 * atomic within a file system).
 *
 * checkpoint.safetensors (one per run, the last finished epoch):
 *   model.<state_dict key>   weights and buffers (BN statistics, num_batches_tracked)
 *   optim.m.<param name>     Adam first moments;  optim.v.<param name>  second moments
 *   __metadata__             format, epoch, the RunState JSON (schedule counters, history,
 *                            seconds), the Adam step counts and the lr (its only copy: older
 *                            checkpoints also kept one in the schedule state, which loading
 *                            ignores), the RNG states
 * best.safetensors: the best epoch's state_dict under its own keys (loadable as is, the
 * file FT and MDMT start from and `mdmt export` reads).
 *
 *   saveCheckpoint(file, model, opt, state);  const state = loadCheckpoint(file, model, opt);
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import type { Module } from '../nn/module';
import { dropoutSeedState } from '../ops/dropout';
import type { Adam } from '../optim/adam';
import { globalGenerator } from '../random';
import type { Tensor } from '../tensor';
import type { EpochRecord } from '../report/types';
import type { EpochScheduleState } from './schedule';

export const CHECKPOINT_FORMAT = 'mdmt-checkpoint-1';

/** A run's progress, kept in the checkpoint's metadata (train() writes it after every epoch). */
export interface RunState {
  epoch: number;
  schedule: EpochScheduleState;
  history: EpochRecord[];
  seed: number;
  seconds: number;
  /** the records left out as unreadable ('TASK:part:id', sorted; absent in checkpoints written before they were kept) */
  skipped?: string[];
}

/** JSON with ±Infinity and NaN kept (as strings), for schedule state such as best = Infinity. */
export function encodeJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'bigint' ? String(x) : x), 1);
}
export function decodeJson<T>(s: string): T {
  return JSON.parse(s, (_k, x: unknown) => (x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : x === 'NaN' ? NaN : x)) as T;
}

/** Reads a JSON file written by atomicWriteJson, naming the file on failure. */
export function readJson<T>(file: string): T {
  try {
    return decodeJson<T>(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MdmtError('EIO', 'readJson', `cannot read ${file}: ${(e as Error).message}`);
  }
}

function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
}

/** Writes `text` to `file` through a temporary file and a rename. */
export function atomicWriteFile(file: string, data: string | Uint8Array): void {
  const tmp = tmpName(file);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** `atomicWriteFile` of `encodeJson(v)`. */
export function atomicWriteJson(file: string, v: unknown): void {
  atomicWriteFile(file, encodeJson(v) + '\n');
}

function atomicSafetensors(file: string, tensors: Map<string, Tensor>, meta: Record<string, string>): void {
  const tmp = tmpName(file);
  saveSafetensors(tmp, tensors, meta);
  fs.renameSync(tmp, file);
}

/** Every tensor of a safetensors file (on the default device; the caller disposes them). */
export function readTensors(file: string): Map<string, Tensor> {
  if (!fs.existsSync(file)) throw new MdmtError('EIO', 'checkpoint', `${file} does not exist`);
  return loadSafetensors(file).tensors;
}

/**
 * Saves a module's state_dict (e.g. best.safetensors) atomically.
 *
 * @example saveWeights('runs/x/best.safetensors', model, { epoch: '41' })
 */
export function saveWeights(file: string, module: Module, meta: Record<string, string> = {}): void {
  atomicSafetensors(file, module.stateDict(), { format: 'mdmt-weights-1', ...meta });
}

/**
 * Loads a state_dict file into a module (strict: same keys and shapes).
 *
 * @example loadWeights('runs/x/best.safetensors', model)
 */
export function loadWeights(file: string, module: Module): void {
  const sd = readTensors(file);
  try {
    module.loadStateDict(sd);
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}

/**
 * Writes the full training state after an epoch.
 *
 * @example saveCheckpoint(path.join(dir, 'checkpoint.safetensors'), net, opt, state)
 */
export function saveCheckpoint(file: string, module: Module, opt: Adam, state: RunState): void {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of module.stateDict()) tensors.set(`model.${k}`, t);
  const names = module.namedParameters().map(([k]) => k);
  const os = opt.stateDict();
  names.forEach((k, i) => {
    tensors.set(`optim.m.${k}`, os.m[i]);
    tensors.set(`optim.v.${k}`, os.v[i]);
  });
  const dr = dropoutSeedState();
  atomicSafetensors(file, tensors, {
    format: CHECKPOINT_FORMAT,
    epoch: String(state.epoch),
    state: encodeJson(state),
    optim: encodeJson({ step: os.step, steps: os.steps, lr: os.lr }),
    rng: encodeJson({ global: globalGenerator.getState(), dropout: { seed: String(dr.seed), calls: String(dr.calls) } }),
  });
}

/**
 * Restores module weights, Adam state and RNG from a checkpoint; returns the RunState.
 *
 * @example const state = loadCheckpoint(file, net, opt); schedule.load(state.schedule);
 */
export function loadCheckpoint(file: string, module: Module, opt: Adam): RunState {
  if (!fs.existsSync(file)) throw new MdmtError('EIO', 'checkpoint', `${file} does not exist`);
  const { tensors, metadata } = loadSafetensors(file);
  try {
    if (metadata.format !== CHECKPOINT_FORMAT) throw new MdmtError('EDATA', 'checkpoint', `${file} is not an mdmt checkpoint (format '${metadata.format}')`);
    const model = new Map<string, Tensor>();
    for (const [k, t] of tensors) if (k.startsWith('model.')) model.set(k.slice(6), t);
    module.loadStateDict(model);
    const names = module.namedParameters().map(([k]) => k);
    const get = (k: string) => {
      const t = tensors.get(k);
      if (!t) throw new MdmtError('EDATA', 'checkpoint', `${file} lacks '${k}'`);
      return t;
    };
    const o = decodeJson<{ step: number; steps: number[]; lr: number }>(metadata.optim);
    opt.loadStateDict({ ...o, m: names.map((k) => get(`optim.m.${k}`)), v: names.map((k) => get(`optim.v.${k}`)) });
    const rng = decodeJson<{ global: number[] }>(metadata.rng);
    globalGenerator.setState(rng.global);
    return decodeJson<RunState>(metadata.state);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
