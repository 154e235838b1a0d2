/**
 * `experiment(config)`: the paper's protocol as a sweep of independent jobs, backbones ×
 * experiments × folds, CV and LOCO (DESIGN.md §5, §8). One run directory per job:
 *
 *   <runsDir>/splits/{AFC,BX}/...              split files of the whole sweep (written once)
 *   <runsDir>/<protocol>/<backbone>/<experiment>/fold<i>/   config.json, split/, log.jsonl,
 *                                              checkpoint.safetensors, best.safetensors, result.json
 *   <runsDir>/sweep.log                        one line per job started or resumed, and finished, failed or aborted
 *                                              (a job found finished is not logged; a killed process logs no end)
 *
 * STL jobs run before the FT and MDMT jobs that start from their best.safetensors (FT: STL τ2
 * of the same fold; MDMT: STL τ1 and STL τ2 of the same fold; under LOCO the τ2 fold is
 * `bxLocoFold`, or the same fold when the tasks share patients and were split together).
 * train() checks each init file's provenance, so a mixed-up runs directory fails loudly.
 * Resume: a job with result.json is never recomputed (and is reused only when its config.json
 * is the run the sweep asks for: a job directory trained with other settings is an ECONFIG
 * naming it and the settings, before anything trains; so are runs outside the plan trained with
 * other shared settings, which the report would average with these), a job with a checkpoint continues from
 * it (train() does that), and a job locked by another live process is left
 * to it and waited for; a lock whose process is gone (killed) is taken over; a job that fails
 * is recorded and the jobs that do not need it go on. So a sweep killed at any
 * moment continues where it stopped when started again, and several processes may share
 * one runs directory.
 *
 *   const { results } = await experiment({ runsDir: 'runs', backbones: ['resnet18'], base: { data: { afc, bx } } });
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkKeys, fewOf, kindOf, MdmtError, show, type KeyTree } from '../errors';
import type { RunResult } from '../report/types';
import { listModels } from '../models/zoo';
import { CONFIG_ALIASES, EXPERIMENTS, experimentTasks, foldRange, nearestModel, PROTOCOLS, resolveTrainConfig, TRAIN_CONFIG_KEYS, type ExperimentName, type Protocol, type TrainConfig, type TrainConfigInput } from './config';
import { holdsTraining, runConflict, storedConfig, sweepDiff } from './identity';
import { readRunResult } from './result_file';
import { ensureDir } from '../dirs';
import { lockHolder, tryLock, unlock } from './lock';
import { ensureSplits, foldCount, loadRecords, oneCentre } from './data';
import { progressHooks, SILENT, type TrainHooks } from './progress';
import { abortableSleep, AbortError, checkSignal, isAbortOf, throwIfAborted } from './abort';
import { RUN_FILES, train } from './train';

export interface ExperimentConfig {
  /** root of the sweep's run directories */
  runsDir: string;
  backbones: string[];
  /** default all four; FT and MDMT pull in the STL jobs they need */
  experiments?: ExperimentName[];
  /** default ['cv', 'loco'] */
  protocols?: Protocol[];
  /** fold indexes to run per protocol (default all: k CV folds, one LOCO fold per AFC centre) */
  folds?: { cv?: number[]; loco?: number[] };
  /** at most this many folds per protocol (the first ones of `folds`) */
  foldLimit?: number;
  /** every other train() setting, shared by all jobs */
  base: Omit<TrainConfigInput, 'backbone' | 'experiment' | 'outDir' | 'protocol' | 'fold' | 'init' | 'splitsDir'>;
  /** per-job hooks (progress bars), with the job's place in the sweep (1-based) */
  hooksFor?: (job: Job, place: { index: number; total: number }) => TrainHooks;
  /** messages about jobs (failed, waiting) */
  log?: (msg: string) => void;
  /** wait for jobs that other live processes hold (default true), polling every pollMs (2000) */
  waitForOthers?: boolean;
  pollMs?: number;
  /** aborting it stops the sweep: no further job starts, the current one stops (train()'s signal), experiment() rejects with AbortError */
  signal?: AbortSignal;
}

export interface Job {
  /** `<protocol>/<backbone>/<experiment>/fold<i>` (also the path under runsDir) */
  key: string;
  backbone: string;
  experiment: ExperimentName;
  protocol: Protocol;
  fold: number;
  dir: string;
  /** keys of the STL jobs whose best.safetensors this job starts from */
  deps: { stlAfc?: string; stlBx?: string };
}

export interface ExperimentOutcome {
  /** results of every finished job of the sweep (the report's input) */
  results: RunResult[];
  /** jobs trained (or resumed and finished) by this call */
  trained: string[];
  /** jobs found finished */
  skipped: string[];
  /** jobs other processes (or other calls of this one) finished while this call ran: the plan is trained + skipped + byOthers + pending + failed */
  byOthers: string[];
  /** jobs not finished: held by another process, or waiting on an unfinished or failed job */
  pending: string[];
  /** jobs that threw (the sweep goes on with the jobs that do not depend on them) */
  failed: { key: string; error: string }[];
}

const jobKey = (p: Protocol, b: string, e: ExperimentName, f: number) => `${p}/${b}/${e}/fold${f}`;

// the per-job settings are the sweep's, not base's
const { backbone: _b, experiment: _e, outDir: _o, protocol: _p, fold: _f, init: _i, splitsDir: _s, ...BASE_KEYS } = TRAIN_CONFIG_KEYS;
/** Every key experiment() accepts (tsc fails when ExperimentConfig gains one not listed). */
export const EXPERIMENT_KEYS: { [K in keyof Required<ExperimentConfig>]: true | KeyTree } = {
  runsDir: true, backbones: true, experiments: true, protocols: true, folds: { cv: true, loco: true }, foldLimit: true,
  base: BASE_KEYS, hooksFor: true, log: true, waitForOthers: true, pollMs: true, signal: true,
};

/**
 * Checks a sweep's settings before anything is read or trained: unknown keys, every backbone
 * name (a typo in the last of five must not surface after training the other four), the
 * experiments and the protocols.
 */
export function validateSweep(cfg: ExperimentConfig): void {
  if (cfg === null || typeof cfg !== 'object') throw new MdmtError('ECONFIG', 'experiment', 'config must be an object');
  if (cfg.base !== null && typeof cfg.base === 'object' && 'signal' in cfg.base)
    throw new MdmtError('ECONFIG', 'experiment', 'config.base.signal: the AbortSignal of a sweep is config.signal (it stops the whole sweep)');
  checkKeys(cfg, EXPERIMENT_KEYS, { op: 'experiment', where: 'config', aliases: { ...CONFIG_ALIASES, backbone: 'backbones', experiment: 'experiments', protocol: 'protocols', fold: 'folds' } });
  checkSweepTypes(cfg);
  const models = listModels();
  const unknown = cfg.backbones.filter((b) => !models.includes(b));
  if (unknown.length)
    throw new MdmtError('ECONFIG', 'experiment', `unknown backbone${unknown.length > 1 ? 's' : ''} ${unknown.map((b) => {
      const near = nearestModel(String(b));
      return `'${b}'${near ? ` (did you mean ${near}?)` : ''}`;
    }).join(', ')}; nothing was trained (registered: ${models.join(', ')})`);
  for (const e of cfg.experiments ?? []) if (!EXPERIMENTS.includes(e)) throw new MdmtError('ECONFIG', 'experiment', `unknown experiment '${e}' (${EXPERIMENTS.join(', ')})`);
  for (const p of cfg.protocols ?? []) if (!PROTOCOLS.includes(p)) throw new MdmtError('ECONFIG', 'experiment', `unknown protocol '${p}' (cv, loco)`);
  checkFolds(cfg.folds, cfg.foldLimit);
  checkSignal('experiment', cfg.signal, 'config.signal', 'ECONFIG');
  // a fold list for a protocol the sweep does not run was ignored (--loco-folds with --protocols cv)
  const runs = cfg.protocols ?? [...PROTOCOLS];
  for (const p of PROTOCOLS)
    if ((cfg.folds as Record<string, unknown> | undefined)?.[p] !== undefined && !runs.includes(p))
      throw new MdmtError('ECONFIG', 'experiment', `config.folds.${p} is given but protocols is ${show(runs)}: add '${p}' to protocols or drop folds.${p}`);
}

/**
 * The sweep's own settings of another type than they take: an empty `experiments` or
 * `protocols` planned no job and failed with a TypeError, a string was read letter by letter
 * (`protocols: 'cv'`: "unknown protocol 'c'"), `runsDir: ''` trained into the working
 * directory, `waitForOthers: 'no'` waited, `pollMs: 'x'` polled every millisecond, and a
 * `log` or `hooksFor` that is not a function failed with a TypeError or failed every job.
 */
function checkSweepTypes(cfg: ExperimentConfig): void {
  const bad = (msg: string) => new MdmtError('ECONFIG', 'experiment', `config.${msg}`);
  if (typeof cfg.runsDir !== 'string' || !cfg.runsDir) throw bad(`runsDir must be a directory path, got ${show(cfg.runsDir)}`);
  for (const k of ['backbones', 'experiments', 'protocols'] as const) {
    const v: unknown = cfg[k];
    if ((v !== undefined || k === 'backbones') && (!Array.isArray(v) || !v.length))
      throw bad(`${k} must be a non-empty array of names${typeof v === 'string' && v ? ` (write [${show(v)}])` : ''}, got ${show(v)}`);
  }
  if (cfg.base === null || typeof cfg.base !== 'object' || Array.isArray(cfg.base)) throw bad(`base must be an object of train() settings (data, imageSize, ...), got ${show(cfg.base)}`);
  for (const k of ['hooksFor', 'log'] as const)
    if (cfg[k] !== undefined && typeof cfg[k] !== 'function') throw bad(`${k} must be a function, got ${show(cfg[k])}`);
  if (cfg.waitForOthers !== undefined && typeof cfg.waitForOthers !== 'boolean') throw bad(`waitForOthers must be true or false, got ${show(cfg.waitForOthers)}`);
  const ms: unknown = cfg.pollMs;
  if (ms !== undefined && (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)) throw bad(`pollMs must be a number of milliseconds > 0, got ${show(ms)}`);
}

/**
 * `folds` is per protocol (`folds: [0]` ran every fold, as its keys are not cv / loco) and
 * `foldLimit` keeps at least one (0 trained nothing and resolved).
 */
function checkFolds(folds: unknown, limit: unknown): void {
  const bad = (msg: string) => new MdmtError('ECONFIG', 'experiment', `config.${msg}`);
  if (folds !== undefined) {
    if (folds === null || typeof folds !== 'object' || Array.isArray(folds))
      throw bad(`folds must be { cv?: number[], loco?: number[] } (the fold indexes of each protocol), got ${show(folds)}`);
    for (const p of PROTOCOLS) {
      const f = (folds as Record<string, unknown>)[p];
      if (f === undefined) continue;
      if (!Array.isArray(f) || !f.length || !f.every((i) => Number.isInteger(i) && (i as number) >= 0))
        throw bad(`folds.${p} must be a non-empty array of fold indexes (integers ≥ 0), got ${show(f)}`);
      if (new Set(f).size !== f.length) throw bad(`folds.${p} names a fold twice: ${show(f)}`);
    }
  }
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1)) throw bad(`foldLimit must be an integer ≥ 1, got ${show(limit)}`);
}

/**
 * The jobs of a sweep in run order (every STL job before any FT / MDMT job).
 *
 * @example planJobs(cfg, { cv: 5, loco: 6 }, 0).map((j) => j.key)
 */
export function planJobs(cfg: ExperimentConfig, counts: { cv: number; loco: number; bxLoco: number; joint?: boolean }, bxLocoFold: number): Job[] {
  const exps = cfg.experiments ?? [...EXPERIMENTS];
  for (const e of exps) if (!EXPERIMENTS.includes(e)) throw new MdmtError('ECONFIG', 'experiment', `unknown experiment '${e}' (${EXPERIMENTS.join(', ')})`);
  const protocols = cfg.protocols ?? [...PROTOCOLS];
  for (const p of protocols) if (!PROTOCOLS.includes(p)) throw new MdmtError('ECONFIG', 'experiment', `unknown protocol '${p}' (cv, loco)`);
  if (!cfg.backbones.length) throw new MdmtError('ECONFIG', 'experiment', 'no backbones given');
  const stl = new Map<string, Job>();
  const later: Job[] = [];
  const mk = (p: Protocol, b: string, e: ExperimentName, f: number, deps: Job['deps'] = {}): Job =>
    ({ key: jobKey(p, b, e, f), backbone: b, experiment: e, protocol: p, fold: f, dir: path.join(path.resolve(cfg.runsDir), p, b, e, `fold${f}`), deps });
  const addStl = (j: Job) => { if (!stl.has(j.key)) stl.set(j.key, j); return j.key; };
  for (const p of protocols) {
    const n = p === 'cv' ? counts.cv : counts.loco;
    const folds = (cfg.folds?.[p] ?? [...Array(n).keys()]).slice(0, cfg.foldLimit ?? Infinity);
    for (const f of folds) if (!Number.isInteger(f) || f < 0 || f >= n) throw new MdmtError('ECONFIG', 'experiment', `${p} fold ${show(f)} is out of range: this sweep has ${foldRange(n, `${p} `)}`);
    // as train() checks it (prepareFold): whenever BRIXIA was split on its own
    if (!counts.joint && (counts.bxLoco > 0 || (p === 'loco' && exps.some((e) => e !== 'stl_afc'))) && bxLocoFold >= counts.bxLoco)
      throw new MdmtError('ECONFIG', 'experiment', `bxLocoFold ${bxLocoFold} is out of range: the BRIXIA splits have ${foldRange(counts.bxLoco, 'LOCO ')}`);
    for (const b of cfg.backbones) {
      for (const f of folds) {
        // the τ2 fold of the same patients (CV, or tasks split together), else the authors' loCo6 pairing (pairedBxFold)
        const bxFold = p === 'cv' || counts.joint ? f : bxLocoFold;
        const afcJob = () => addStl(mk(p, b, 'stl_afc', f));
        const bxJob = () => addStl(mk(p, b, 'stl_bx', bxFold));
        if (exps.includes('stl_afc')) afcJob();
        if (exps.includes('stl_bx')) bxJob();
        if (exps.includes('ft')) later.push(mk(p, b, 'ft', f, { stlBx: bxJob() }));
        if (exps.includes('mdmt')) later.push(mk(p, b, 'mdmt', f, { stlAfc: afcJob(), stlBx: bxJob() }));
      }
    }
  }
  return [...stl.values(), ...later];
}

/** Every result.json under `runsDir`, as the report's RunResult list. */
export function collectResults(runsDir: string): RunResult[] {
  // a number or an object was looked up as the folder '5' / '[object Object]'
  if (typeof runsDir !== 'string' || !runsDir) throw new MdmtError('ECONFIG', 'collectResults', `runsDir must be the path of a runs directory, got ${kindOf(runsDir)}`);
  // the library call says what the CLI said: a missing folder is not an empty sweep
  if (!fs.existsSync(runsDir)) throw new MdmtError('EIO', 'collectResults', `runs directory '${runsDir}' does not exist`);
  if (!fs.statSync(runsDir).isDirectory()) throw new MdmtError('ECONFIG', 'collectResults', `runs directory '${runsDir}' is a file, not a directory`);
  // two runs of one job (a copied run directory, two sweeps under one folder): which one to report is not ours to guess
  const runs = finishedRuns(runsDir, (r) => `${r.protocol} ${r.backbone} ${r.experiment} fold ${r.fold}`, 'collectResults', 'report one runs directory per sweep, or remove one');
  return [...runs.values()].map((x) => x.result).sort((a, b) => `${a.protocol}/${a.backbone}/${a.experiment}/${a.fold}`.localeCompare(`${b.protocol}/${b.backbone}/${b.experiment}/${b.fold}`));
}

/**
 * The finished runs under `runsDir` by job (`label(result)`: the key, and the job's name in the
 * error), each with its directory; a job finished twice throws EDATA naming both result.json
 * files, then `fix`.
 */
function finishedRuns(runsDir: string, label: (r: RunResult) => string, op: string, fix: string): Map<string, { dir: string; result: RunResult }> {
  const at = new Map<string, { dir: string; result: RunResult }>();
  walkRunsDir(runsDir, (d, files) => {
    if (!files.has(RUN_FILES.result)) return;
    const file = path.join(d, RUN_FILES.result), result = readRunResult(file), key = label(result);
    const other = at.get(key);
    if (other) throw new MdmtError('EDATA', op, `${key} is finished twice: ${path.join(other.dir, RUN_FILES.result)} and ${file}; ${fix}`);
    at.set(key, { dir: d, result });
  });
  return at;
}

/**
 * Visits every directory under `runsDir` (itself included, at most 6 levels down) with the
 * names of the files it holds; split folders and dot folders (the image cache) are skipped.
 * What collectResults reads and what the report lists as unfinished come from the same walk.
 */
export function walkRunsDir(runsDir: string, visit: (dir: string, files: Set<string>) => void): void {
  const walk = (d: string, depth: number) => {
    if (depth > 6 || !fs.existsSync(d)) return;
    const entries = fs.readdirSync(d, { withFileTypes: true });
    visit(d, new Set(entries.filter((e) => e.isFile()).map((e) => e.name)));
    for (const e of entries) if (e.isDirectory() && e.name !== 'splits' && e.name !== 'split' && !e.name.startsWith('.')) walk(path.join(d, e.name), depth + 1);
  };
  walk(path.resolve(runsDir), 0);
}

/**
 * Throws ECONFIG, before anything trains, when a job's directory holds a run (finished or
 * started) with other settings than the sweep would give it: a finished job is reused only
 * when it is the run asked for, as train() itself refuses such a directory.
 */
function checkReuse(runsDir: string, jobs: { dir: string; cfg: TrainConfig }[]): void {
  const bad = jobs.flatMap(({ dir, cfg }) => {
    const d = runConflict(dir, cfg);
    return d ? [`${path.relative(runsDir, dir)}: ${fewOf(d, 3)}`] : [];
  });
  if (bad.length)
    throw new MdmtError('ECONFIG', 'experiment', `${runsDir} holds ${bad.length} run${bad.length > 1 ? 's' : ''} trained with other settings (stored → requested): ` +
      `${fewOf(bad, 3, '; ')}. Nothing was trained: use another runs directory, or delete those run directories`);
}

/**
 * Throws ECONFIG, before anything trains, when the runs directory holds runs outside this
 * sweep's plan (another backbone, fold or experiment) trained with other shared settings: the
 * report averages every run under a runs directory into one μ ± σ, so a second sweep with
 * another image size or lr on other folds was mixed into the first one's tables, unwarned.
 */
function checkSweepSettings(runsDir: string, planned: Set<string>, cfg: TrainConfig): void {
  const bad: string[] = [];
  walkRunsDir(runsDir, (d, files) => {
    if (planned.has(d) || !files.has(RUN_FILES.config) || !holdsTraining(d)) return;
    let stored: TrainConfig;
    try {
      stored = storedConfig(d);
    } catch (e) {
      throw new MdmtError('ECONFIG', 'experiment', `${path.join(d, RUN_FILES.config)} cannot be compared with this sweep's settings: ${(e as Error).message}`);
    }
    const diff = sweepDiff(stored, cfg);
    if (diff.length) bad.push(`${path.relative(runsDir, d)}: ${fewOf(diff, 3)}`);
  });
  if (bad.length)
    throw new MdmtError('ECONFIG', 'experiment', `${runsDir} holds ${bad.length} run${bad.length > 1 ? 's' : ''} of a sweep with other settings (stored → requested): ${fewOf(bad, 3, '; ')}. ` +
      'mdmt report would average them with this sweep\'s runs as one sweep. Nothing was trained: use another runs directory (mdmt report can still read a folder that holds both), or run with the stored settings');
}

/**
 * Throws EDATA, before anything trains, when a job of the plan is finished in another folder
 * under `runsDir` (a copied or renamed run directory, fold0-old): collectResults refused the
 * runs directory only at the end of the sweep, after every job had trained, with no outcome.
 */
function checkFinishedElsewhere(runsDir: string, jobs: Job[]): void {
  const at = finishedRuns(runsDir, (r) => `${r.protocol}/${r.backbone}/${r.experiment}/fold${r.fold}`, 'experiment',
    'remove one (mdmt report reads one run per job). Nothing was trained');
  for (const j of jobs) {
    const d = at.get(j.key)?.dir;
    if (d !== undefined && d !== j.dir)
      throw new MdmtError('EDATA', 'experiment', `${j.key} is finished in ${d}, not in its run directory ${j.dir}: the sweep would train it again and find it twice; move it back, or remove it. Nothing was trained`);
  }
}

/** Who holds the first few of these job directories, and the lock file to delete if that process is gone. */
function holders(dirs: string[]): string {
  const held = dirs.flatMap((d) => {
    const h = lockHolder(d);
    return h ? [`${path.basename(path.dirname(path.dirname(d)))}/${path.basename(path.dirname(d))}/${path.basename(d)} by process ${h.pid} on ${h.host} (${path.join(d, '.lock')})`] : [];
  });
  return held.length ? `${fewOf(held, 2, '; ')}; a lock whose process is gone on another host is deleted by hand`
    : 'their STL runs are still training';
}

/**
 * Runs (or resumes) a sweep and returns the results of every finished job.
 *
 * @example
 * const out = await experiment({ runsDir: 'runs', backbones: ['shufflenet_v2_x0_5'], protocols: ['cv'],
 *   base: { data: { afc: 'd/AIforCOVID', bx: 'd/BRIXIA' }, imageSize: 64, batchSize: 16, schedule: { maxEpochs: 3, warmupEpochs: 1 } } });
 */
export async function experiment(cfg: ExperimentConfig): Promise<ExperimentOutcome> {
  validateSweep(cfg);
  const signal = cfg.signal;
  throwIfAborted(signal, 'experiment', `before it started on ${cfg.runsDir}`);
  const runsDir = path.resolve(cfg.runsDir);
  const log = cfg.log ?? (() => {});
  const sweepLog = (msg: string) => fs.appendFileSync(path.join(runsDir, 'sweep.log'), `${new Date().toISOString()} ${process.pid} ${msg}\n`);
  const exps = cfg.experiments ?? [...EXPERIMENTS];
  const needAfc = exps.some((e) => experimentTasks(e).afc);
  // validate the shared settings once per backbone (with a stand-in STL job: each backbone's
  // ImageNet file must exist, the image size must suit it) before anything is written, then
  // write the sweep's splits
  const stand = (backbone: string) => resolveTrainConfig({ ...cfg.base, backbone, experiment: needAfc ? 'stl_afc' : 'stl_bx', outDir: runsDir, splitsDir: path.join(runsDir, 'splits') } as TrainConfigInput);
  const probe = stand(cfg.backbones[0] ?? '?');
  cfg.backbones.slice(1).forEach(stand);
  ensureDir(runsDir, 'experiment', 'config.runsDir');
  if (typeof cfg.base.pretrained === 'string' && new Set(cfg.backbones).size > 1)
    throw new MdmtError('ECONFIG', 'experiment', `config.pretrained names one weights file for ${cfg.backbones.length} backbones: give pretrainedDir (--pretrained-dir, $MDMT_WEIGHTS), a folder of <backbone>.safetensors`);
  const recs = await loadRecords(probe.data, undefined, (m) => log(`data: ${m}`));
  throwIfAborted(signal, 'experiment', 'while reading the data (nothing was trained)');
  const splitsDir = path.join(runsDir, 'splits');
  const dirs = ensureSplits(splitsDir, recs, { seed: probe.splitSeed, k: probe.kFolds });
  const counts = {
    cv: probe.kFolds,
    // LOCO folds are the τ1 centres; a τ2-only sweep runs its one BRIXIA LOCO fold
    loco: needAfc && dirs.afc ? foldCount(dirs.afc, 'loco', probe.kFolds) : 1,
    bxLoco: dirs.bx ? foldCount(dirs.bx, 'loco', probe.kFolds) : 0,
    joint: dirs.joint,
  };
  // a task of one centre has no LOCO folds: a sweep that runs LOCO on it is refused here, not
  // planned without its LOCO jobs (τ1) or failed on bxLocoFold (τ2)
  if ((cfg.protocols ?? PROTOCOLS).includes('loco')) {
    const instead = "protocols ['cv'] (--protocols cv)";
    // tasks split together hold out τ1's centres for both
    if ((needAfc || dirs.joint) && dirs.afc && foldCount(dirs.afc, 'loco', probe.kFolds) === 0) throw oneCentre('AFC', recs.afc, instead, 'experiment');
    if (exps.some((e) => e !== 'stl_afc') && dirs.bx && !dirs.joint && counts.bxLoco === 0) throw oneCentre('BX', recs.bx, instead, 'experiment');
  }
  const jobs = planJobs(cfg, counts, probe.bxLocoFold);
  const byKey = new Map(jobs.map((j) => [j.key, j]));
  // what train() gets for a job: the shared settings, the job's place, its STL inits
  const inputOf = (j: Job): TrainConfigInput => {
    const init: TrainConfigInput['init'] = {};
    if (j.deps.stlAfc) init.stlAfc = path.join(byKey.get(j.deps.stlAfc)!.dir, RUN_FILES.best);
    if (j.deps.stlBx) init.stlBx = path.join(byKey.get(j.deps.stlBx)!.dir, RUN_FILES.best);
    // stl_bx trains its own fold (bxLocoFold = fold), which train() holds an explicit other bxLocoFold against
    const { bxLocoFold: _bx, ...base } = cfg.base;
    return {
      ...(j.experiment === 'stl_bx' ? base : cfg.base), backbone: j.backbone, experiment: j.experiment, protocol: j.protocol, fold: j.fold,
      outDir: j.dir, splitsDir, init, data: { cacheDir: path.join(runsDir, '.cache'), ...probe.data, ...cfg.base.data },
    } as TrainConfigInput;
  };
  const cfgOf = new Map(jobs.map((j) => [j.key, resolveTrainConfig(inputOf(j))]));
  checkReuse(runsDir, jobs.map((j) => ({ dir: j.dir, cfg: cfgOf.get(j.key)! })));
  checkSweepSettings(runsDir, new Set(jobs.map((j) => j.dir)), cfgOf.get(jobs[0].key)!);
  checkFinishedElsewhere(runsDir, jobs);
  // A job another process finishes during this sweep is compared too (once): two sweeps with
  // other settings on one runs directory each took the other's runs as its own, and as inits.
  const verified = new Set<string>();
  const done = (j: Job) => {
    if (verified.has(j.key)) return true;
    if (!fs.existsSync(path.join(j.dir, RUN_FILES.result))) return false;
    const d = runConflict(j.dir, cfgOf.get(j.key)!);
    if (d)
      throw new MdmtError('ECONFIG', 'experiment', `${path.relative(runsDir, j.dir)} was finished by another process with other settings (stored → requested: ${fewOf(d, 3)}): ` +
        `two sweeps with different settings share ${runsDir}; use one runs directory per sweep`);
    verified.add(j.key);
    return true;
  };
  const outcome: ExperimentOutcome = { results: [], trained: [], skipped: jobs.filter(done).map((j) => j.key), byOthers: [], pending: [], failed: [] };
  const failed = new Set<string>();
  const stopped = () => `${outcome.trained.length} job${outcome.trained.length === 1 ? '' : 's'} trained by this call kept; no further job started`;
  const runJob = async (j: Job, index: number) => {
    try {
      if (done(j)) return;
      const resumed = fs.existsSync(path.join(j.dir, RUN_FILES.checkpoint));
      sweepLog(`${resumed ? 'resume' : 'start'} ${j.key}`);
      await train(inputOf(j), cfg.hooksFor?.(j, { index: index + 1, total: jobs.length }) ?? (cfg.base.progress ? progressHooks({ label: `[${index + 1}/${jobs.length}] ${j.key}` }) : SILENT), { signal });
      sweepLog(`done ${j.key}`);
      outcome.trained.push(j.key);
    } catch (e) {
      // an abort stops the sweep (the job resumes from its checkpoint when the sweep runs again)
      if (isAbortOf(e, signal)) {
        sweepLog(`aborted ${j.key}`);
        throw new AbortError(`experiment: aborted in job ${j.key}, ${stopped()}: ${e.message}`, { cause: signal!.reason });
      }
      // a configuration error fails every job alike: stop; any other failure (bad image,
      // diverged loss, out of memory) is this job's, and the independent jobs go on
      if (e instanceof MdmtError && e.code === 'ECONFIG') throw e;
      const msg = e instanceof Error ? e.message : String(e);
      // thrown after result.json was written (a hook's onEnd): the job is finished, and was
      // counted as failed while its result was reported and its FT / MDMT jobs were "not run"
      if (done(j)) {
        sweepLog(`done ${j.key} (then a hook threw: ${msg.split('\n')[0]})`);
        log(`${j.key}: finished, then a hook threw: ${msg}`);
        outcome.trained.push(j.key);
        return;
      }
      sweepLog(`failed ${j.key}: ${msg.split('\n')[0]}`);
      log(`${j.key}: FAILED: ${msg}`);
      failed.add(j.key);
      outcome.failed.push({ key: j.key, error: msg });
    } finally {
      unlock(j.dir);
    }
  };
  // passes over the plan until nothing is left that this process can run; jobs held by other
  // live processes (or waiting on them) are waited for, so every process ends with the sweep
  let told = false;
  for (;;) {
    const waiting: string[] = [];
    let ran = false;
    for (const [index, j] of jobs.entries()) {
      if (done(j) || failed.has(j.key)) continue;
      const deps = Object.values(j.deps).map((k) => byKey.get(k!)!);
      if (deps.some((d) => failed.has(d.key))) continue; // blocked for good
      throwIfAborted(signal, 'experiment', `before job ${j.key}, ${stopped()}`);
      // a lock this thread holds is another experiment() or train() call's here (this sweep let
      // go of its own): tryLock took it as its own, train() failed the job EBUSY, and the
      // failed job's unlock() deleted the lock the other call was training under
      if (deps.some((d) => !done(d)) || lockHolder(j.dir)?.mine || !tryLock(j.dir)) {
        waiting.push(j.key);
        continue;
      }
      await runJob(j, index);
      ran = true;
    }
    if (!waiting.length || (!ran && cfg.waitForOthers === false)) break;
    if (!ran) {
      if (!told) log(`waiting for ${waiting.length} job(s) held by other processes or waiting on their runs (${holders(waiting.map((k) => byKey.get(k)!.dir))})`);
      told = true;
      await abortableSleep(cfg.pollMs ?? 2000, signal, 'experiment', `while waiting for other processes' jobs, ${stopped()}`);
    }
  }
  outcome.pending = jobs.filter((j) => !done(j) && !failed.has(j.key)).map((j) => j.key);
  const mine = new Set([...outcome.trained, ...outcome.skipped]);
  outcome.byOthers = jobs.filter((j) => !mine.has(j.key) && !failed.has(j.key) && done(j)).map((j) => j.key);
  // a job whose input run failed stays pending for good: say which and why (it was only counted)
  for (const k of outcome.pending) {
    const lost = Object.values(byKey.get(k)!.deps).filter((d) => failed.has(d!));
    if (lost.length) log(`${k}: not run: it starts from ${lost.join(', ')}, which failed`);
  }
  // left to other processes (waitForOthers false, --no-wait): say which and who holds them (only "n pending" was printed)
  const left = outcome.pending.filter((k) => !Object.values(byKey.get(k)!.deps).some((d) => failed.has(d!)));
  if (left.length) log(`not waited for: ${fewOf(left, 3)}, held by other processes or waiting on their runs (${holders(left.map((k) => byKey.get(k)!.dir))})`);
  const groups = new Set(jobs.map((j) => `${j.protocol}/${j.backbone}/${j.experiment}`));
  outcome.results = collectResults(runsDir).filter((r) => groups.has(`${r.protocol}/${r.backbone}/${r.experiment}`));
  return outcome;
}
