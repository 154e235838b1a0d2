/**
 * The data side of one run: read the records of both tasks (AIforCOVID / BRIXIA roots, real
 * or synthetic, or the covid-cxr subset), write the split files once (atomically: a sweep
 * killed while writing them leaves nothing half-written), read back the fold a run needs and
 * copy its split files into the run directory.
 *
 * Split layout (the authors' format, ts/data/splits.ts): `<splitsDir>/{AFC,BX}/{<k>,loCo}/<i>/
 * {train,val,test}.txt` plus `meta.json` (seed, k, record count and fingerprint, joint). CV
 * fold i of τ1 pairs with CV fold i of τ2; every LOCO fold of τ1 pairs with BRIXIA LOCO fold
 * `bxLocoFold` (the authors' loCo6, paper.md §3). When the tasks share images or patients
 * (covid-cxr) they are split together and LOCO fold i pairs with τ2 fold i, the same patients
 * held out (`pairedBxFold`).
 *
 *   const recs = await loadRecords(cfg.data);  const f = prepareFold(cfg, recs);  f.afc?.train.length
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ensureDir, makeDirs } from '../dirs';
import { fewOf, MdmtError, show } from '../errors';
import { AFC_RELEASES, BX_CENTRE_GROUPS, readAIforCOVID, readBrixia, readCovidCxr } from '../data/readers';
import { formatSummary, formatTaskCounts, PROGNOSIS, type DataRecord, type Dataset } from '../data/records';
import { afcStrata, bxStrata, jointSplits, linkRecords, makeSplits, readFold, splitLine, type Fold } from '../data/splits';
import type { Loader } from '../data/loader';
import type { RunResult } from '../report/types';
import { readJson, type RunState } from './checkpoint';
import { experimentTasks, foldRange, type DataConfig, type TrainConfig } from './config';

export interface TaskRecords { afc: DataRecord[]; bx: DataRecord[] }

const DATA_FLAGS = { afc: '--data-afc', bx: '--data-bx', covidCxr: '--covid-cxr' } as const;

/**
 * A data set's root folder, absolute, once it is a folder holding one of its sheets: a path to
 * the sheet itself, or to the wrong data set's folder, is named as such (it was reported as
 * '<root>/AIforCOVID.xlsx/AIforCOVID.xlsx: sheet file not found', or a bare ENOENT).
 */
function dataRoot(p: string, key: keyof typeof DATA_FLAGS, sheets: string[], holds: string): string {
  const abs = path.resolve(p), field = `config.data.${key} (${DATA_FLAGS[key]})`;
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new MdmtError('EIO', 'data', `${field} '${abs}' does not exist`);
  if (!st.isDirectory())
    throw new MdmtError('ECONFIG', 'data', `${field} '${abs}' is a file, not a folder: give the data set's folder, the one that holds ${holds}${sheets.includes(path.basename(abs)) ? ` ('${path.dirname(abs)}')` : ''}`);
  if (!sheets.some((s) => fs.existsSync(path.join(abs, s))))
    throw new MdmtError('EIO', 'data', `${field} '${abs}' holds no ${sheets.join(' or ')}: give the data set's folder, the one that holds ${holds}`);
  return abs;
}

/**
 * Reads the records of both tasks; `log` gets one line per reader (rows, records kept,
 * dropped and why). A missing task root gives an empty list.
 *
 * @example const { afc, bx } = await loadRecords({ covidCxr: '../shared/data/covid-cxr' }, undefined, console.log);
 */
export async function loadRecords(data: DataConfig, need: { afc: boolean; bx: boolean } = { afc: true, bx: true }, log: (msg: string) => void = () => {}): Promise<TaskRecords> {
  const onBadRecord = data.onBadRecord ?? 'error';
  if (data.covidCxr) {
    const dir = dataRoot(data.covidCxr, 'covidCxr', ['labels.csv'], 'labels.csv and images/');
    const ds = await readCovidCxr(dir, { bins: data.bins ?? 'paper', onBadRecord });
    logRead(ds, log);
    return { afc: ds.records.filter((r) => r.task === 'AFC'), bx: ds.records.filter((r) => r.task === 'BX') };
  }
  const afcSheets = Object.values(AFC_RELEASES).map((r) => r.sheet);
  const afcRoot = need.afc && data.afc ? dataRoot(data.afc, 'afc', afcSheets, `${afcSheets.join(', ')} and their images`) : undefined;
  const bxRoot = need.bx && data.bx ? dataRoot(data.bx, 'bx', ['metadata_global_v2.csv'], 'metadata_global_v2.csv and dicom_clean/') : undefined;
  const read = async (p: Promise<Dataset>) => {
    const ds = await p;
    logRead(ds, log);
    return ds.records;
  };
  const afc = afcRoot ? await read(readAIforCOVID(afcRoot, { releases: data.afcReleases, onBadRecord })) : [];
  const bx = bxRoot ? await read(readBrixia(bxRoot, { bins: data.bins ?? 'paper', onBadRecord, groupBy: data.bxGroupBy, centres: data.bxCentres })) : [];
  return { afc, bx };
}

/** A reader's summary, a line per task (records per class and per centre), then each row it skipped (skip mode) with the reason: the count alone named none. */
function logRead(ds: Dataset, log: (msg: string) => void): void {
  log(formatSummary(ds.summary));
  for (const t of ds.summary.tasks) log(`  ${formatTaskCounts(t)}`);
  for (const b of ds.skipped.slice(0, 20)) log(`skipped ${b.where}: ${b.error}`);
  if (ds.skipped.length > 20) log(`... and ${ds.skipped.length - 20} more skipped rows`);
}

/** What a split folder was made from (meta.json): a changed data set or setting must not reuse it. */
/**
 * What a split folder was made from. Version 3 balances each class's total across CV chunks
 * (see `stratifiedFolds`); a version-2 folder (centre × label strata only) is still used as it
 * is, since its files are the splits its runs were trained on.
 */
interface SplitMeta { version: 2 | 3; seed: number; k: number; records: number; ids: string; joint: boolean }

/** Hex digest (16 chars) of strings, order-independent. */
export function digest(items: string[]): string {
  const h = crypto.createHash('sha256');
  for (const s of [...items].sort()) h.update(s).update('\n');
  return h.digest('hex').slice(0, 16);
}

/** Everything a split depends on per record: id, task, label, centre and patient group. */
function fingerprint(records: DataRecord[]): string {
  return digest(records.map((r) => `${r.task} ${r.id} ${r.label} ${r.center} ${r.group ?? ''}`));
}

/** Where a sweep's split files are, and whether both tasks were split together (shared images or patients). */
export interface SplitDirs { afc?: string; bx?: string; joint: boolean }

/**
 * Writes `<splitsDir>/{AFC,BX}/` (CV with k folds and LOCO, for every task that has records)
 * unless they are already there, each via a temporary folder and one rename. When the tasks
 * share images or patients (covid-cxr), both are derived from one split by patient
 * (`jointSplits`); otherwise each task is split on its own, BRIXIA's LOCO folds in the
 * authors' centre order. An existing folder made from other records, seed or k is an error
 * naming it.
 *
 * @example ensureSplits('runs/splits', await loadRecords(cfg.data), { seed: 0, k: 5 }).afc
 */
export function ensureSplits(splitsDir: string, recs: TaskRecords, o: { seed: number; k: number }): SplitDirs {
  const joint = recs.afc.length > 0 && recs.bx.length > 0 && linkRecords([...recs.afc, ...recs.bx]).shared > 0;
  const out: SplitDirs = { joint };
  for (const task of ['AFC', 'BX'] as const) {
    const records = task === 'AFC' ? recs.afc : recs.bx;
    if (!records.length) continue;
    const dir = path.join(splitsDir, task);
    const want: SplitMeta = { version: 3, seed: o.seed, k: o.k, records: records.length, ids: fingerprint(joint ? [...recs.afc, ...recs.bx] : records), joint };
    const metaFile = path.join(dir, 'meta.json');
    if (!fs.existsSync(metaFile)) {
      ensureDir(splitsDir, 'train', 'config.splitsDir (--splits-dir)'); // a file in the way: named, not a raw EEXIST
      const tmp = path.join(splitsDir, `.${task}.tmp-${process.pid}-${Date.now()}`);
      try {
        if (joint) jointSplits(task === 'AFC' ? { afc: tmp } : { bx: tmp }, recs.afc, recs.bx, { seed: o.seed, k: o.k });
        else if (task === 'AFC') makeSplits(tmp, records, { seed: o.seed, strata: afcStrata, k: o.k });
        else {
          // the authors' fold order when the centres are their manufacturer groups, else by name
          const groups = BX_CENTRE_GROUPS.map((g) => g.name);
          const centres = records.every((r) => groups.includes(r.center)) ? groups : undefined;
          makeSplits(tmp, records, { seed: o.seed, strata: bxStrata, k: o.k, centres });
        }
        fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(want, null, 1) + '\n');
      } catch (e) {
        // a full disk: no half-written folder left behind, and the folder named
        fs.rmSync(tmp, { recursive: true, force: true });
        if (e instanceof MdmtError) throw e;
        throw new MdmtError('EIO', 'data', `cannot write the split files of ${task} in ${splitsDir}: ${(e as Error).message}`);
      }
      try {
        fs.renameSync(tmp, dir);
      } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        // another process wrote them first: theirs are identical (same inputs), use them
        if (!fs.existsSync(metaFile)) throw e;
      }
    }
    const have = readJson<SplitMeta>(metaFile);
    if (JSON.stringify(have) !== JSON.stringify(have?.version === 2 ? { ...want, version: 2 } : want))
      throw new MdmtError('ECONFIG', 'data', `${dir} holds splits of other data or settings (stored → now: ${splitMetaDiff(have, want)}): ` +
        'use another splitsDir (--splits-dir; for mdmt demo, another --out) or delete it');
    if (task === 'AFC') out.afc = dir;
    else out.bx = dir;
  }
  return out;
}

/** Number of folds of a protocol in a split folder. */
export function foldCount(taskDir: string, protocol: 'cv' | 'loco', k: number): number {
  const d = path.join(taskDir, protocol === 'cv' ? String(k) : 'loCo');
  return fs.readdirSync(d).filter((n) => /^\d+$/.test(n)).length;
}

/**
 * The LOCO fold names (held-out centres) of a split folder, by fold index. The file has an
 * `i centre` line per fold; a centre with a line break in it (a sheet cell with Alt+Enter) goes
 * on over the next lines, up to the line that starts with the next index: read one name per
 * line, every fold after it was named after the centre before it.
 */
export function locoCentres(taskDir: string): string[] {
  const f = path.join(taskDir, 'loCo', 'centers');
  const names: string[] = [];
  for (const l of fs.readFileSync(f, 'utf8').replace(/\n$/, '').split('\n')) {
    const next = `${names.length} `;
    if (l.startsWith(next)) names.push(l.slice(next.length));
    else if (names.length) names[names.length - 1] += `\n${l}`;
  }
  return names;
}

/**
 * A task whose records come from one centre has no LOCO folds (its split folder holds none):
 * the error for a LOCO run or sweep that needs them, naming the task, its centre and the way out.
 *
 * @example oneCentre('BX', recs.bx, "protocols ['cv'] (--protocols cv)").message
 */
export function oneCentre(task: 'AFC' | 'BX', records: DataRecord[], instead: string, op = 'train'): MdmtError {
  const centres = [...new Set(records.map((r) => r.center))].sort();
  return new MdmtError('EDATA', op, `leave-one-centre-out needs at least 2 centres, but every ${task} record comes from one (${centres.map((c) => `'${c}'`).join(', ')}` +
    `${centres.length > 1 ? ', as its patients\' centre' : ''}): there is no centre to hold out; run ${instead}, or add data from other centres`);
}

/** One task's fold of a run: index, name (CV index or held-out centre) and the fingerprint of its parts. */
export interface TaskFold { index: number; name: string; split: string }

export interface RunFolds {
  /** the τ1 / τ2 records this run trains, validates and tests on (per the experiment) */
  afc?: Fold;
  bx?: Fold;
  /** the fold's name in results: CV index, or the held-out centre for LOCO */
  name: string;
  /** both tasks split together (they share images or patients) */
  joint: boolean;
  /** every task fold this run trains on or starts from (FT: τ1 and, for its init, τ2) */
  tasks: { afc?: TaskFold; bx?: TaskFold };
}

/** What differs between two splits' meta.json, named by the settings behind each field. */
function splitMetaDiff(have: Partial<SplitMeta>, want: SplitMeta): string {
  const names: Record<keyof SplitMeta, string> = {
    version: 'split format version', seed: 'splitSeed (--split-seed)', k: 'kFolds (--k-folds)', records: 'records', ids: 'the records\' ids and labels', joint: 'tasks split together',
  };
  const d = (Object.keys(names) as (keyof SplitMeta)[]).filter((k) => JSON.stringify(have[k]) !== JSON.stringify(want[k]))
    .map((k) => (k === 'ids' ? names[k] : `${names[k]} ${show(have[k])} → ${show(want[k])}`));
  return d.length ? d.join(', ') : 'an unreadable meta.json';
}

/** Fingerprint of a fold's parts (which records are in train, val and test): what provenance compares. */
export function foldDigest(f: Fold): string {
  return digest((['train', 'val', 'test'] as const).flatMap((p) => f[p].map((r) => `${p} ${r.task} ${r.id}`)));
}

/**
 * The τ2 fold paired with a run's fold: the same index under CV, for STL τ2 itself and when the
 * tasks were split together; under LOCO otherwise `bxLocoFold` (the authors' loCo6).
 *
 * @example pairedBxFold({ protocol: 'loco', fold: 3, bxLocoFold: 0, experiment: 'mdmt' }, false) // 0
 */
export function pairedBxFold(c: Pick<TrainConfig, 'protocol' | 'fold' | 'bxLocoFold' | 'experiment'>, joint: boolean): number {
  return c.protocol === 'cv' || c.experiment === 'stl_bx' || joint ? c.fold : c.bxLocoFold;
}

/**
 * bxLocoFold is one of the BRIXIA LOCO folds, whichever run records it (99 was accepted and
 * written to config.json); it plays no part for stl_bx (its fold is `fold`) or when the tasks
 * were split together (pairedBxFold), as experiment() checks it too (planJobs).
 */
function checkBxLocoFold(cfg: TrainConfig, dirs: SplitDirs): void {
  if (cfg.experiment === 'stl_bx' || dirs.joint || !dirs.bx) return;
  const n = foldCount(dirs.bx, 'loco', cfg.kFolds);
  // BRIXIA of one centre has no LOCO folds: the default 0 plays no part unless a LOCO run pairs it (pick names that)
  if (n === 0 && cfg.bxLocoFold === 0) return;
  if (cfg.bxLocoFold >= n)
    throw new MdmtError('ECONFIG', 'train', `config.bxLocoFold is ${cfg.bxLocoFold} but there are ${n} BRIXIA LOCO folds (${n ? `0..${n - 1}` : 'its records come from one centre'}, ${path.join(dirs.bx, 'loCo')})`);
}

/** How many of a task's classes `recs` hold, and the counts as 'MILD 8, SEVERE 0'. */
function classCounts(task: 'afc' | 'bx', recs: DataRecord[]): { classes: number; text: string } {
  const names = task === 'afc' ? [...PROGNOSIS] : ['bin 0', 'bin 1', 'bin 2', 'bin 3'];
  const counts = names.map((_, c) => recs.filter((r) => r.label === c).length);
  return { classes: counts.filter((n) => n > 0).length, text: names.map((n, c) => `${n} ${counts[c]}`).join(', ') };
}

/**
 * A task trained on one class learns nothing, and its test metrics looked perfect (τ1 all MILD
 * read ACC 100, F1 100, GM 0): the training part of a trained task needs two classes.
 */
function checkClasses(task: 'afc' | 'bx', fold: string, train: DataRecord[], cause = ''): void {
  const c = classCounts(task, train);
  if (c.classes < 2)
    throw new MdmtError('EDATA', 'train', `${task.toUpperCase()} fold ${fold}: the train part has fewer than 2 classes (${c.text}${cause ? `, ${cause}` : ''}): ` +
      `nothing can be learned from it and the test metrics would mean nothing; check the labels of config.data (${task === 'afc' ? 'Prognosis' : 'BrixiaScoreGlobal'})`);
}

/**
 * A test part of one class (a small data set, or a LOCO centre of one outcome): its metrics are
 * computed, but read ACC 100 / GM 0 for a model that always answers that class; said, not refused.
 */
function testClassesNote(task: 'afc' | 'bx', fold: string, test: DataRecord[]): string | undefined {
  const c = classCounts(task, test);
  if (test.length && c.classes < 2)
    return `warning: ${task.toUpperCase()} fold ${fold}: the test part holds one class only (${c.text}): ` +
      'its F1 and G-mean say little (a model answering that class always scores ACC 100, GM 0)';
  return undefined;
}

/** `held`: the task whose centres the LOCO folds hold out (τ1 when the tasks were split together), for a split without LOCO folds. */
function pick(taskDir: string, protocol: 'cv' | 'loco', k: number, i: number, records: DataRecord[], what: string, held: { task: 'AFC' | 'BX'; records: DataRecord[] }): Fold {
  const n = foldCount(taskDir, protocol, k);
  if (n === 0 && protocol === 'loco') throw oneCentre(held.task, held.records, "protocol 'cv' (--protocol cv)");
  if (i >= n) throw new MdmtError('ECONFIG', 'train', `config.${what} ${i} is out of range: this run has ${foldRange(n, `${protocol} `)} (${path.join(taskDir, protocol === 'cv' ? String(k) : 'loCo')})`);
  return readFold(path.join(taskDir, protocol === 'cv' ? String(k) : 'loCo', String(i)), records);
}

function writeRunSplit(dir: string, fold: Fold): void {
  makeDirs(dir);
  for (const part of ['train', 'val', 'test'] as const) {
    const rows = [...fold[part]].map(splitLine).sort();
    fs.writeFileSync(path.join(dir, `${part}.txt`), ['img label center', ...rows].join('\n') + '\n');
  }
}

/**
 * The folds a run trains on (and the τ2 fold an FT run starts from), with split files written
 * if needed and copied into `<outDir>/split/{AFC,BX}/`.
 *
 * @example prepareFold(cfg, await loadRecords(cfg.data)).afc!.val.length
 */
export function prepareFold(cfg: TrainConfig, recs: TaskRecords, log?: (msg: string) => void): RunFolds {
  const t = experimentTasks(cfg.experiment);
  const dirs = ensureSplits(cfg.splitsDir, recs, { seed: cfg.splitSeed, k: cfg.kFolds });
  const out: RunFolds = { name: String(cfg.fold), joint: dirs.joint, tasks: {} };
  checkBxLocoFold(cfg, dirs);
  const need = { afc: t.afc, bx: t.bx || cfg.experiment === 'ft' };
  for (const task of ['afc', 'bx'] as const) {
    if (!need[task]) continue;
    const dir = dirs[task];
    // a covid-cxr folder holds both tasks: name its sheet and column, not a data set it is not
    const cxr = cfg.data.covidCxr && `no ${task === 'afc' ? 'τ1' : 'τ2'} records to split: covid-cxr ${path.join(cfg.data.covidCxr, 'labels.csv')} gave none ` +
      `(τ${task === 'afc' ? '1 comes from its went_icu column, Y or N' : '2 from its brixia_global_senior column, 0..18'}; the data summary says what was dropped)`;
    if (!dir) throw new MdmtError('EDATA', 'data', cxr || `no ${task === 'afc' ? 'AIforCOVID (τ1)' : 'BRIXIA (τ2)'} records to split (config.data)`);
    const index = task === 'afc' ? cfg.fold : pairedBxFold(cfg, dirs.joint);
    const held = dirs.joint || task === 'afc' ? { task: 'AFC' as const, records: recs.afc } : { task: 'BX' as const, records: recs.bx };
    const fold = pick(dir, cfg.protocol, cfg.kFolds, index, recs[task], task === 'afc' || index === cfg.fold ? 'fold' : 'bxLocoFold', held);
    const name = cfg.protocol === 'loco' ? locoCentres(dir)[index] : String(index);
    out.tasks[task] = { index, name, split: foldDigest(fold) };
    if (!t[task]) continue;
    out[task] = fold;
    if (task === 'afc' || !t.afc) out.name = name;
    writeRunSplit(path.join(cfg.outDir, 'split', task.toUpperCase()), fold);
    checkFoldParts(task, name, fold, dirs.joint, log);
  }
  return out;
}

/**
 * What a trained task's fold needs: no empty part (but a jointly split LOCO fold's τ2 test set,
 * a τ1 centre without τ2 films) and two classes to train on; a one-class test part is said.
 * `cause` ends the messages when records were left out (unreadable images).
 */
function checkFoldParts(task: 'afc' | 'bx', name: string, fold: Fold, joint: boolean, log?: (msg: string) => void, cause = ''): void {
  for (const part of ['train', 'val', 'test'] as const) {
    if (fold[part].length === 0 && !(joint && task === 'bx' && part === 'test'))
      throw new MdmtError('EDATA', 'train', `${task.toUpperCase()} fold ${name} has an empty ${part} set (${cause || 'too few records for this protocol'})`);
  }
  checkClasses(task, name, fold.train, cause);
  const note = testClassesNote(task, name, fold.test);
  if (note) log?.(`${note}${cause ? ` (${cause})` : ''}`);
}

/**
 * The fold checks again once unreadable images are left out (data.onBadRecord 'skip', found
 * before the first epoch): leaving them out could empty a part or take a class away, which the
 * run would otherwise report as ACC 100 or NaN.
 *
 * @example checkFoldsLeft(folds, [{ task: 'AFC', part: 'test', id: 'P_3' }], log)
 */
export function checkFoldsLeft(folds: RunFolds, skipped: readonly { task: 'AFC' | 'BX'; part: 'train' | 'val' | 'test'; id: string }[], log?: (msg: string) => void): void {
  const gone = new Set(skipped.map((b) => `${b.task}:${b.part}:${b.id}`));
  for (const task of ['afc', 'bx'] as const) {
    const fold = folds[task];
    if (!fold) continue;
    const keep = (part: 'train' | 'val' | 'test') => fold[part].filter((r) => !gone.has(`${task.toUpperCase()}:${part}:${r.id}`));
    const left: Fold = { ...fold, train: keep('train'), val: keep('val'), test: keep('test') };
    const n = fold.train.length + fold.val.length + fold.test.length - left.train.length - left.val.length - left.test.length;
    if (n) checkFoldParts(task, folds.tasks[task]?.name ?? folds.name, left, folds.joint, log, `once ${n} unreadable image${n > 1 ? 's were' : ' was'} left out`);
  }
}

/**
 * Every image of the split read once before the first epoch (Loader.scan, into the cache the
 * epochs read): an unreadable one fails the run now, named with all the others, not when its
 * batch comes (a test image: after the last epoch). In skip mode the loaders leave them out of
 * every epoch from the start, so the epoch plans do not depend on where the process started;
 * what is left must still train and test (checkFoldsLeft), and a resumed run must leave out
 * the same images as its checkpoint (`keys`, 'TASK:part:id' sorted, go into the next one).
 *
 * @example const { bad, keys } = await scanSplit({ train, val, test }, folds, { dir, skip: false, resumed: state, log })
 */
export async function scanSplit(loaders: Record<'train' | 'val' | 'test', Loader>, folds: RunFolds,
  o: { dir: string; skip: boolean; resumed: Pick<RunState, 'epoch' | 'skipped'>; log: (msg: string) => void; check?: (part: string) => void }): Promise<{ bad: NonNullable<RunResult['skipped']>; keys: string[] }> {
  o.log(`data: reading the ${Object.values(loaders).reduce((n, l) => n + l.records.length, 0)} images of the split once before training (the epochs read them from the cache)`);
  const bad: NonNullable<RunResult['skipped']> = [];
  for (const part of ['train', 'val', 'test'] as const)
    bad.push(...(await loaders[part].scan(o.check && (() => o.check!(part)))).map((b) => ({ part, task: b.task, id: b.id, file: b.file ?? '', error: b.error })));
  if (bad.length && !o.skip)
    throw new MdmtError('EDATA', 'train', `${bad.length} image${bad.length > 1 ? 's' : ''} of the split cannot be read (nothing was trained): ${fewOf(bad.map((b) => `${b.id} (${b.part}): ${b.error}`), 5, '; ')}; ` +
      "fix or remove them, or leave them out with data.onBadRecord: 'skip' (--skip-bad of mdmt train, experiment and demo)");
  // a resumed run goes on with the records it began with: the epochs before were trained without
  // the images left out then (and with any fixed since), so another set would mix two data sets
  const keys = bad.map((b) => `${b.task}:${b.part}:${b.id}`).sort();
  const then = o.resumed.skipped;
  if (o.resumed.epoch > 0 && then && keys.join('\n') !== then.join('\n')) {
    const now = new Set(keys), before = new Set(then);
    const diff = [...keys.filter((k) => !before.has(k)).map((k) => `${k} now unreadable`), ...then.filter((k) => !now.has(k)).map((k) => `${k} readable again`)];
    throw new MdmtError('EDATA', 'train', `${o.dir}: the images left out changed since epoch ${o.resumed.epoch} was checkpointed (${fewOf(diff, 4)}): resuming would train one run on two data sets; restore the images, or train in a new run directory`);
  }
  if (bad.length) {
    // what is left must still train and test: a part emptied or a class lost is refused, not reported as ACC 100 or NaN
    checkFoldsLeft(folds, bad, (m) => o.log(`${path.basename(o.dir)}: ${m}`));
    const by = (p: string) => bad.filter((b) => b.part === p).length;
    o.log(`data: left out ${bad.length} unreadable image${bad.length > 1 ? 's' : ''} (train ${by('train')}, val ${by('val')}, test ${by('test')}); result.json lists them`);
  }
  return { bad, keys };
}
