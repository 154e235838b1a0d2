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
import { isPlain, MdmtError, show } from '../errors';
import { loadSafetensors, safetensorsParts, writeAll } from '../io/safetensors';
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

/**
 * Reads a JSON file written by atomicWriteJson, naming the file on failure: EIO when it cannot
 * be read (a folder is named as one), EDATA when it is not JSON; `op` names the caller
 * (predict's run files were 'readJson: cannot read …', a function the user never called).
 */
export function readJson<T>(file: string, op = 'readJson'): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const dir = (e as NodeJS.ErrnoException).code === 'EISDIR';
    throw new MdmtError('EIO', op, dir ? `${file} is a folder, not a JSON file` : `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return decodeJson<T>(text);
  } catch (e) {
    throw new MdmtError('EDATA', op, `${file} is not JSON (${(e as Error).message}): cut short, or edited by hand`);
  }
}

function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
}

/**
 * Writes `data` (text, bytes, or bytes in parts) to `file` through a temporary file and a
 * rename. A failure (a full disk, a folder in the way) removes the temporary file, which
 * would otherwise stay behind holding the disk's last free space, and is an EIO naming `file`.
 */
export function atomicWriteFile(file: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const tmp = tmpName(file);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      writeAll(fd, typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new MdmtError('EIO', 'write', `cannot write ${file}: ${(e as Error).message}`);
  }
}

/** Appends `text` to `file` (the run's log), naming the file on failure. */
export function appendFile(file: string, text: string): void {
  try {
    fs.appendFileSync(file, text);
  } catch (e) {
    throw new MdmtError('EIO', 'write', `cannot write ${file}: ${(e as Error).message}`);
  }
}

/**
 * Removes the temporary files of atomicWriteFile that a process killed while writing left in
 * `dir` (a checkpoint's is as large as the checkpoint), other than this process's own; the
 * caller holds the directory's lock, so no other process is writing them. Returns their names.
 */
export function removeStaleTemps(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const stale = entries.filter((e) => e.isFile() && /^\..+\.tmp-\d+$/.test(e.name) && !e.name.endsWith(`.tmp-${process.pid}`)).map((e) => e.name);
  for (const n of stale) fs.rmSync(path.join(dir, n), { force: true });
  return stale;
}

/** `atomicWriteFile` of `encodeJson(v)`. */
export function atomicWriteJson(file: string, v: unknown): void {
  atomicWriteFile(file, encodeJson(v) + '\n');
}

function atomicSafetensors(file: string, tensors: Map<string, Tensor>, meta: Record<string, string>): void {
  atomicWriteFile(file, safetensorsParts(tensors, meta));
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

/** The RunState of a checkpoint's metadata, checked field by field (`bad` names the file). */
function checkState(v: unknown, bad: (what: string) => MdmtError): RunState {
  const count = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;
  if (!isPlain(v)) throw bad(`metadata 'state' is ${show(v)}, not an object`);
  if (!count(v.epoch)) throw bad(`metadata 'state': epoch is ${show(v.epoch)}, not an epoch number`);
  if (!Array.isArray(v.history) || !v.history.every(isPlain)) throw bad(`metadata 'state': history is ${show(v.history).slice(0, 80)}, not a list of epoch records`);
  const s = v.schedule, p = isPlain(s) ? s.plateau : undefined;
  const num = (o: Record<string, unknown>, k: string) => typeof o[k] === 'number';
  if (!isPlain(s) || !isPlain(p) || !['epoch', 'bestEpoch', 'bestSelectLoss', 'epochsWithoutImprovement'].every((k) => num(s, k)) ||
    !['best', 'numBadEpochs', 'cooldownCounter', 'lastEpoch'].every((k) => num(p, k)))
    throw bad(`metadata 'state': schedule is ${show(s).slice(0, 200)}, not a schedule state`);
  return v as unknown as RunState;
}

/**
 * Restores module weights, Adam state and RNG from a checkpoint; returns the RunState. A file
 * that is not a whole checkpoint (cut, edited, of another model) is an EDATA naming it.
 *
 * @example const state = loadCheckpoint(file, net, opt); schedule.load(state.schedule);
 */
export function loadCheckpoint(file: string, module: Module, opt: Adam): RunState {
  if (!fs.existsSync(file)) throw new MdmtError('EIO', 'checkpoint', `${file} does not exist`);
  const { tensors, metadata } = loadSafetensors(file);
  const bad = (what: string) => new MdmtError('EDATA', 'checkpoint', `${file}: ${what} (damaged or not written by train(); delete it to train the run again from epoch 1)`);
  const meta = <T>(k: string): T => {
    if (typeof metadata[k] !== 'string') throw bad(`metadata '${k}' is missing`);
    try {
      return decodeJson<T>(metadata[k]);
    } catch (e) {
      throw bad(`metadata '${k}' is not JSON (${(e as Error).message})`);
    }
  };
  try {
    if (metadata.format !== CHECKPOINT_FORMAT) throw new MdmtError('EDATA', 'checkpoint', `${file} is not an mdmt checkpoint (format '${metadata.format}')`);
    const state = checkState(meta<unknown>('state'), bad);
    const o = meta<{ step: number; steps: number[]; lr: number }>('optim');
    const rng = meta<{ global: number[] }>('rng');
    const model = new Map<string, Tensor>();
    for (const [k, t] of tensors) if (k.startsWith('model.')) model.set(k.slice(6), t);
    const names = module.namedParameters().map(([k]) => k);
    const get = (k: string) => {
      const t = tensors.get(k);
      if (!t) throw new MdmtError('EDATA', 'checkpoint', `${file} lacks '${k}'`);
      return t;
    };
    try {
      module.loadStateDict(model);
      opt.loadStateDict({ ...o, m: names.map((k) => get(`optim.m.${k}`)), v: names.map((k) => get(`optim.v.${k}`)) });
      globalGenerator.setState(rng?.global);
    } catch (e) {
      // the model's, the optimiser's and the generator's own checks do not know the file
      if (e instanceof MdmtError && !e.message.includes(file)) throw bad(e.message);
      throw e;
    }
    return state;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
