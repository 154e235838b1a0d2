/**
 * Whether a run directory holds the run a configuration asks for. train() refuses to resume or
 * return a directory trained with other settings, and experiment() checks every job of a sweep
 * before it trains anything, both naming the settings that differ:
 *
 *   runConflict('runs/cv/resnet18/stl_afc/fold0', cfg)   // ['imageSize 32 → 64'] or undefined
 *
 * Settings that do not change what a run computes (device, workers, progress, checkpointing,
 * eager) may differ. Paths the run carries with it (its splits, its STL inits, the image cache)
 * match when they are equal or equal relative to each run directory, so a run directory (or a
 * whole runs directory) copied or moved elsewhere is still the same run: what those paths hold
 * is checked by content where it is used (ensureSplits compares the split folder's meta.json
 * with the records, best.safetensors carries the split fingerprint of its fold, and FT / MDMT
 * check their inits' provenance).
 */
import * as fs from 'fs';
import * as path from 'path';
import { fewOf, MdmtError, show } from '../errors';
import { readJson } from './checkpoint';
import { experimentTasks, resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config';

/** Settings a run may be resumed or reused with, changed. */
const RUNTIME = new Set(['progress', 'workers', 'device', 'keepCheckpoint', 'checkpointEvery', 'eager', 'outDir']);
/** Paths compared as they are or relative to the run directory. */
const MOVABLE = new Set(['splitsDir', 'data.cacheDir', 'init.stlAfc', 'init.stlBx']);

/**
 * A run directory holds training: a log line, weights or a result. A config.json alone is a run
 * that failed before its first epoch (a wrong data path, say): a corrected command may take it.
 */
export function holdsTraining(dir: string): boolean {
  return trainingFiles(dir).length > 0;
}

/** The files of `dir` that show training (holdsTraining): result.json, the weights, a non-empty log. */
function trainingFiles(dir: string): string[] {
  const f = (n: string) => path.join(dir, n);
  return ['result.json', 'checkpoint.safetensors', 'best.safetensors', 'log.jsonl']
    .filter((n) => fs.existsSync(f(n)) && (n !== 'log.jsonl' || fs.statSync(f(n)).size > 0));
}

/** Every leaf setting by its dotted path (undefined values are unset, as in config.json). */
function leaves(v: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (v !== undefined) out.set(prefix, v);
  return out;
}

/** stl_bx trains BRIXIA fold `fold` whatever bxLocoFold says (pairedBxFold): not part of what it computes. */
function comparable(c: TrainConfig): Map<string, unknown> {
  const m = leaves(c, '', new Map());
  for (const k of m.keys()) if (RUNTIME.has(k.split('.')[0])) m.delete(k);
  if (c.experiment === 'stl_bx') m.delete('bxLocoFold');
  return m;
}

const short = (v: unknown) => {
  const s = v === undefined ? '(unset)' : show(v);
  return s.length > 80 ? `${s.slice(0, 38)}…${s.slice(-38)}` : s;
};

/**
 * The settings in which two resolved configs differ, as 'field stored → requested' (empty when
 * they are the same run).
 *
 * @example configDiff(stored, cfg) // ['imageSize 32 → 64', 'schedule.maxEpochs 1 → 5']
 */
export function configDiff(stored: TrainConfig, now: TrainConfig): string[] {
  return settingsDiff(comparable(stored), comparable(now), (k, x, y) =>
    MOVABLE.has(k) && typeof x === 'string' && typeof y === 'string' && path.relative(stored.outDir, x) === path.relative(now.outDir, y));
}

/** 'key a → b' for each setting whose values differ (by JSON) and that `alike` does not excuse. */
function settingsDiff(a: Map<string, unknown>, b: Map<string, unknown>, alike: (k: string, x: unknown, y: unknown) => boolean = () => false): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k), y = b.get(k);
    if (JSON.stringify(x) !== JSON.stringify(y) && !alike(k, x, y)) out.push(`${k} ${short(x)} → ${short(y)}`);
  }
  return out;
}

/** What places a run in a sweep (which job it is) rather than what it computes: the runs of one sweep differ in these. */
const JOB = new Set(['backbone', 'experiment', 'protocol', 'fold', 'init', 'splitsDir', 'data.cacheDir']);

/**
 * The settings a run shares with every other run of its sweep: comparable() without the job's
 * place, and a backbone's own ImageNet file (<dir>/<backbone>.safetensors) as the folder's.
 */
function sweepSettings(c: TrainConfig): Map<string, unknown> {
  const m = comparable(c);
  for (const k of [...m.keys()]) if (JOB.has(k) || JOB.has(k.split('.')[0])) m.delete(k);
  if (typeof c.pretrained === 'string' && path.basename(c.pretrained) === `${c.backbone}.safetensors`) m.set('pretrained', path.join(path.dirname(c.pretrained), '<backbone>.safetensors'));
  return m;
}

/** The settings of one task's data set (an experiment that does not train the task does not read them). */
const TASK_DATA = { afc: ['data.afc', 'data.afcReleases'], bx: ['data.bx', 'data.bins', 'data.bxGroupBy', 'data.bxCentres', 'bxLocoFold'] } as const;

/**
 * The settings in which two runs of one sweep differ, as 'field a → b' (empty when they belong
 * to one sweep: they may differ in backbone, experiment, protocol, fold and their STL inits).
 *
 * @example sweepDiff(storedRun, requested) // ['imageSize 32 → 48']
 */
export function sweepDiff(a: TrainConfig, b: TrainConfig): string[] {
  const x = sweepSettings(a), y = sweepSettings(b);
  // stl_bx trains its own BRIXIA fold: bxLocoFold is not part of what it computes (comparable())
  if (!x.has('bxLocoFold') || !y.has('bxLocoFold')) { x.delete('bxLocoFold'); y.delete('bxLocoFold'); }
  // a data set one of the runs does not read: the README's stl_bx run, given data: { bx } alone,
  // was reported as 'trained with different settings: data.afc (unset)' beside its stl_afc run
  for (const task of ['afc', 'bx'] as const)
    if (!experimentTasks(a.experiment)[task] || !experimentTasks(b.experiment)[task])
      for (const k of TASK_DATA[task]) { x.delete(k); y.delete(k); }
  return settingsDiff(x, y);
}


/**
 * For runs that do not all share their settings: one line per setting in which they differ,
 * each value with the runs that have it (empty when they form one sweep).
 *
 * @example settingsSpread([{ name: 'cv/r/stl_afc/fold0', cfg: a }, { name: 'cv/r/stl_afc/fold1', cfg: b }])
 * // ['imageSize 32 (cv/r/stl_afc/fold0), 48 (cv/r/stl_afc/fold1)']
 */
export function settingsSpread(runs: readonly { name: string; cfg: TrainConfig }[]): string[] {
  if (runs.length < 2) return [];
  const base = runs[0].cfg;
  const keys = new Set(runs.flatMap((r) => sweepDiff(base, r.cfg).map((d) => d.slice(0, d.indexOf(' ')))));
  return [...keys].sort().map((k) => {
    const by = new Map<string, string[]>();
    for (const r of runs) {
      const v = short(sweepSettings(r.cfg).get(k));
      by.set(v, [...(by.get(v) ?? []), r.name]);
    }
    return `${k} ${[...by].map(([v, names]) => `${v} (${fewOf(names, 2)})`).join(', ')}`;
  });
}

/**
 * The resolved config.json of a run directory, with the outDir it was written for (the base
 * of its relative paths); a file without one is taken as written for `dir`.
 */
export function storedConfig(dir: string): TrainConfig {
  const file = path.join(dir, 'config.json');
  const raw = readJson<TrainConfigInput>(file);
  const outDir = typeof raw?.outDir === 'string' && raw.outDir ? raw.outDir : dir;
  try {
    return resolveTrainConfig({ ...raw, outDir });
  } catch (e) {
    // the stored file is at fault, not the caller's settings (a bare 'config.backbone must be a
    // model name, got undefined' blamed the --backbone just given, exit code 2)
    if (!(e instanceof MdmtError)) throw e;
    throw new MdmtError('EDATA', 'train', `${file} is not the configuration train() stored (${e.detail.replace(/\bconfig\./g, '')}): damaged or edited; restore it, or delete the run directory to train it again`);
  }
}

/**
 * The differences between the run a directory holds and `cfg` (undefined when the directory
 * holds no training, or the same run).
 */
export function runConflict(dir: string, cfg: TrainConfig): string[] | undefined {
  const held = trainingFiles(dir);
  if (!held.length) return undefined;
  // train() writes config.json before any training: without it the run's settings are unknown,
  // and its result was returned (or its checkpoint resumed) for whatever settings were asked
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    throw new MdmtError('EDATA', 'train', `${dir} holds training (${held.join(', ')}) but no config.json: the settings it was trained with are unknown, so it is not taken as this run; restore its config.json, or delete the directory to train it again`);
  }
  const d = configDiff(storedConfig(dir), cfg);
  return d.length ? d : undefined;
}


/**
 * Whether `file` is a config.json that train() wrote: a JSON object with every setting `cfg`
 * has (train() stores the whole resolved configuration). A user's own settings file is not:
 * `mdmt train --config exp/config.json --out exp` replaced it with the run's.
 */
function isRunConfig(file: string, cfg: TrainConfig): boolean {
  try {
    const raw = readJson<unknown>(file);
    // (a setting left undefined is not in the JSON train() wrote)
    return raw !== null && typeof raw === 'object' && !Array.isArray(raw) && Object.entries(cfg).every(([k, v]) => v === undefined || k in raw);
  } catch {
    return false; // not JSON, or unreadable: not one train() wrote (it writes through a rename)
  }
}

/**
 * Whether `dir`'s config.json is one train() wrote (the whole resolved configuration), not a
 * user's settings file kept beside the runs: a run that failed before its first epoch leaves
 * only such a config.json, and `mdmt report` lists it as unfinished.
 */
export function holdsRunConfig(dir: string): boolean {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return false;
  try {
    return isRunConfig(file, storedConfig(dir));
  } catch {
    return false; // settings no run could have been started with
  }
}

/**
 * Throws ECONFIG when `cfg.outDir` holds a run with other settings, naming them, or a
 * config.json that is not a run's (train() would overwrite it).
 */
export function checkRunDir(cfg: TrainConfig): void {
  const file = path.join(cfg.outDir, 'config.json');
  if (fs.existsSync(file) && !holdsTraining(cfg.outDir) && !isRunConfig(file, cfg))
    throw new MdmtError('ECONFIG', 'train', `${file} is not a run's configuration, and the run would overwrite it with its own: give an outDir (--out) without a config.json of yours`);
  const d = runConflict(cfg.outDir, cfg);
  if (d)
    throw new MdmtError('ECONFIG', 'train', `${cfg.outDir} holds a run with another configuration (${path.join(cfg.outDir, 'config.json')}; stored → requested: ${fewOf(d, 4)}): use another outDir or delete it`);
}
