/**
 * What every reader returns: one `DataRecord` per image with its task (τ1 = AFC prognosis,
 * τ2 = BX severity), integer label, centre and where it came from (sheet + row, for errors),
 * plus the records that were skipped and why. Global Brixia scores map to 4 classes by the
 * paper's bins (<5, 5–8, 9–13, ≥14) or the code's (≤4, 5–9, 10–14, ≥15).
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import type { Box } from './preprocess';

export type Task = 'AFC' | 'BX';
/** dataset id carried by each sample and used as the loss indicator: AFC = 0, BX = 1 */
export const TASK_ID: Record<Task, number> = { AFC: 0, BX: 1 };
export const PROGNOSIS = ['MILD', 'SEVERE'] as const;
/** A field as the split files write it (whitespace → _): a record's id there names it, so it must be unique. */
export const splitToken = (s: string): string => s.replace(/\s+/g, '_');

/**
 * The first spelling, and where it came from, of each split-file token of one field (ids,
 * centres): two spellings with one token ('a b', 'a_b') would be one name in the split files.
 * With `foldCase`, spellings that differ only in case share an entry too.
 *
 *   const ids = new SplitNames<number>();  ids.add('a b', 2);  ids.get('a_b')   // { name: 'a b', at: 2 }
 */
export class SplitNames<T> {
  private readonly first = new Map<string, { name: string; at: T }>();
  constructor(private readonly foldCase = false) {}
  private key(name: string): string {
    const t = splitToken(name);
    return this.foldCase ? t.toLowerCase() : t;
  }
  /** the first name remembered under `name`'s token */
  get(name: string): { name: string; at: T } | undefined {
    return this.first.get(this.key(name));
  }
  /** remembers `name`, unless its token already has a first name */
  add(name: string, at: T): void {
    const k = this.key(name);
    if (!this.first.has(k)) this.first.set(k, { name, at });
  }
}
/** The AIforCOVID releases: sheet and image folder (here, not in readers.ts, so that config.ts checks release numbers without loading the readers). */
export const AFC_RELEASES: Record<number, { sheet: string; dir: string }> = {
  1: { sheet: 'AIforCOVID.xlsx', dir: 'imgs' },
  2: { sheet: 'AIforCOVID_r2.xlsx', dir: 'imgs_r2' },
  3: { sheet: 'AIforCOVID_r3.xlsx', dir: 'imgs_r3' },
};

export interface DataRecord {
  id: string;
  task: Task;
  /** 'aiforcovid' | 'brixia' | 'covid-cxr' */
  source: string;
  image: string;
  mask?: string;
  /** lung box [x,y,w,h] from a box sheet, used when there is no mask */
  box?: Box;
  /** hospital (AFC), manufacturer (BX), source host (covid-cxr) */
  center: string;
  /** AFC: 0 MILD / 1 SEVERE; BX: global-score bin 0..3 */
  label: number;
  /** AFC: MILD/SEVERE; BX: the six-digit BrixiaScore (or the global score) */
  labelName: string;
  /** BX: BrixiaScoreGlobal 0..18 */
  global?: number;
  /** records sharing a group (a patient's follow-up films) never cross splits; none = alone */
  group?: string;
  /** e.g. 'AIforCOVID_r2.xlsx row 14' */
  where: string;
}

/** The extensions a lung mask may have: the data sets' own (.tif AIforCOVID, .tiff BRIXIA) and PNG. */
export const MASK_EXTENSIONS = ['.tif', '.tiff', '.png'] as const;

/**
 * The lung mask `<dir>/<id><ext>` of the first of MASK_EXTENSIONS that exists, the data set's
 * own extension `first` tried first, or undefined; both readers find masks through it.
 *
 *   findMask('/data/AIforCOVID/processed/masks', 'P_1_5', '.tif') // …/P_1_5.tif, .tiff or .png
 */
export function findMask(dir: string, id: string, first: (typeof MASK_EXTENSIONS)[number]): string | undefined {
  return [first, ...MASK_EXTENSIONS.filter((e) => e !== first)].map((e) => path.join(dir, `${id}${e}`)).find((f) => fs.existsSync(f));
}

export interface BadRecord { where: string; file?: string; error: string }
/** What a reader kept and dropped, and why (every reader returns one; training logs it). */
export interface ReadSummary {
  /** the sheet(s) read */
  source: string;
  /** data rows read (blank rows not counted) */
  rows: number;
  /** records kept */
  kept: number;
  /** rows or records left out, counted per reason */
  dropped: { reason: string; count: number }[];
  /** what else the user should know about how the sheets were read (hidden worksheets skipped) */
  notes?: string[];
  /** the records kept, per task: per class (class balance) and per centre (LOCO folds) */
  tasks: TaskCounts[];
}
/** A name and how many records it has. */
export interface NameCount { name: string; count: number }
/** One task's records per class (every class, in label order, 0 included) and per centre (by name). */
export interface TaskCounts { task: Task; classes: NameCount[]; centres: NameCount[]; bins?: BinRule }
export interface Dataset { records: DataRecord[]; skipped: BadRecord[]; summary: ReadSummary }
export type OnBad = 'error' | 'skip';

export type BinRule = 'paper' | 'code';
export const BIN_EDGES: Record<BinRule, readonly number[]> = {
  paper: [5, 9, 14], // <5, 5–8, 9–13, ≥14
  code: [5, 10, 15], // ≤4, 5–9, 10–14, ≥15 (th = 4, 9, 14 with >)
};

/**
 * The 4-class bin of a global Brixia score 0..18.
 *
 *   binGlobal(9) === 2;  binGlobal(9, 'code') === 1
 */
export function binGlobal(global: number, rule: BinRule = 'paper'): number {
  if (!Number.isInteger(global) || global < 0 || global > 18)
    throw new MdmtError('EDATA', 'binGlobal', `global Brixia score ${global} is out of range (integer 0..18)`);
  const e = BIN_EDGES[rule];
  if (!e) throw new MdmtError('EINVAL', 'binGlobal', `unknown bin rule '${rule}' (paper | code)`);
  return global < e[0] ? 0 : global < e[1] ? 1 : global < e[2] ? 2 : 3;
}

/**
 * BrixiaScore as six zero-padded digits (A..F, each 0..3): `str(int(s)).zfill(6)`.
 *
 *   padBrixia('23013') === '023013'
 */
export function padBrixia(raw: string | number, where = 'BrixiaScore'): string {
  // a '.0' that a spreadsheet or pandas (a float column) appends, as intCell takes for BrixiaScoreGlobal
  const s = String(raw).trim().replace(/^\[|\]$/g, '').replace(/^(\d+)\.0*$/, '$1');
  if (!/^\d{1,6}$/.test(s)) throw new MdmtError('EDATA', 'readBrixia', `${where}: BrixiaScore '${raw}' is not 1..6 digits`);
  const p = String(parseInt(s, 10)).padStart(6, '0');
  if (/[4-9]/.test(p)) throw new MdmtError('EDATA', 'readBrixia', `${where}: BrixiaScore '${p}' has a region score outside 0..3`);
  return p;
}

/** Counts rows read, records kept and rows dropped per reason, for a reader's ReadSummary. */
export class Tally {
  rows = 0;
  private readonly reasons = new Map<string, number>();
  private readonly notes: string[] = [];
  drop(reason: string, n = 1): void {
    if (n > 0) this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + n);
  }
  /** a line for the summary's notes (undefined: none) */
  note(text: string | undefined): void {
    if (text) this.notes.push(text);
  }
  summary(source: string, records: readonly DataRecord[], bads: BadRecords, bins: BinRule = 'paper'): ReadSummary {
    this.drop("bad rows skipped (onBadRecord 'skip')", bads.list.length);
    const dropped = [...this.reasons].map(([reason, count]) => ({ reason, count }));
    const s: ReadSummary = { source, rows: this.rows, kept: records.length, dropped, tasks: countTasks(records, bins) };
    if (this.notes.length) s.notes = [...this.notes];
    return s;
  }
}

/**
 * The τ2 class names of a bin rule: the global-score range of each bin.
 *
 *   binNames('paper') // ['0–4', '5–8', '9–13', '14–18']
 */
export function binNames(rule: BinRule = 'paper'): string[] {
  const e = [0, ...BIN_EDGES[rule], 19];
  return [0, 1, 2, 3].map((i) => `${e[i]}–${e[i + 1] - 1}`);
}

/**
 * Records per class and per centre of each task that has any (τ1 first).
 *
 *   countTasks(records)[0] // { task: 'AFC', classes: [{ name: 'MILD', count: 67 }, …], centres: [{ name: 'A', count: 30 }, …] }
 */
export function countTasks(records: readonly DataRecord[], bins: BinRule = 'paper'): TaskCounts[] {
  const out: TaskCounts[] = [];
  for (const task of ['AFC', 'BX'] as const) {
    const own = records.filter((r) => r.task === task);
    if (!own.length) continue;
    const names = task === 'AFC' ? [...PROGNOSIS] : binNames(bins);
    const classes = names.map((name, i) => ({ name, count: own.filter((r) => r.label === i).length }));
    const centres = new Map<string, number>();
    for (const r of own) centres.set(r.center, (centres.get(r.center) ?? 0) + 1);
    const byName = [...centres].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([name, count]) => ({ name, count }));
    out.push({ task, classes, centres: byName, ...(task === 'BX' ? { bins } : {}) });
  }
  return out;
}

/**
 * One line per task of a reader's summary: records per class, then per centre.
 *
 *   formatTaskCounts(ds.summary.tasks[0]) // 'τ1 prognosis: MILD 67, SEVERE 119; 7 centres: cureus.com 6, eurorad.org 44, …'
 */
export function formatTaskCounts(t: TaskCounts): string {
  const list = (c: NameCount[]) => c.map((x) => `${x.name} ${x.count}`).join(', ');
  const head = t.task === 'AFC' ? 'τ1 prognosis' : `τ2 severity (global Brixia score, ${t.bins ?? 'paper'} bins)`;
  return `${head}: ${list(t.classes)}; ${t.centres.length} centre${t.centres.length === 1 ? '' : 's'}: ${list(t.centres)}`;
}

/**
 * One line per reader: rows read, records kept, rows dropped and why.
 *
 *   formatSummary(ds.summary)  // 'metadata_global_v2.csv: 186 rows, 184 records kept; dropped: 2 bad rows skipped ...'
 */
export function formatSummary(s: ReadSummary): string {
  const dropped = s.dropped.length ? `; dropped: ${s.dropped.map((d) => `${d.count} ${d.reason}`).join(', ')}` : '; nothing dropped';
  // a row labelling both tasks (covid-cxr) gives a record for each: kept can exceed rows
  const perTask = s.kept > s.rows ? ' (a row labels one record per task)' : '';
  return `${s.source}: ${s.rows} rows, ${s.kept} records kept${perTask}${dropped}${s.notes?.length ? `; ${s.notes.join('; ')}` : ''}`;
}

/**
 * A fault of the data set as a whole, not of one record (a centre spelt two ways): 'skip' mode
 * does not skip it, since no row is the bad one (the first spelling read would win, and a typo
 * in an early row would throw away the rest of its hospital).
 */
export class DataSetError extends MdmtError {}

/** Collects per-record failures: throws in 'error' mode, records them in 'skip' mode. */
export class BadRecords {
  readonly list: BadRecord[] = [];
  constructor(readonly mode: OnBad) {}
  /** runs fn; on MdmtError either rethrows or records it and returns undefined (a DataSetError always rethrows) */
  guard<T>(where: string, file: string | undefined, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (this.mode === 'error' || !(e instanceof MdmtError) || e instanceof DataSetError) throw e;
      this.list.push({ where, file, error: e.message });
      return undefined;
    }
  }
}
