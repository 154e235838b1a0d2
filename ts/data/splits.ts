/**
 * Splits as files (paper.md §2, §3): 5-fold stratified 60/20/20 (fold k tests on chunk k,
 * validates on chunk k+1, trains on the other three; AIforCOVID stratified by centre × label,
 * BRIXIA by global ≥ 9) and leave-one-centre-out (test = one centre, validation ≈ 10 % of the
 * rest stratified by centre × label). Records that share a `group` (one patient's films, as in
 * covid-cxr) always land in the same part. Files are the authors' format: space-separated with the
 * header `img label center`, under `<dir>/<k>/{train,val,test}.txt`. Everything is a function
 * of the records and the seed, so the same seed writes byte-identical files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { DataRecord } from './records';
import { rng, seedOf } from './rng';

export interface Fold { name: string; train: DataRecord[]; val: DataRecord[]; test: DataRecord[] }
export type Strata = (r: DataRecord) => string;

/** AIforCOVID strata: centre × label. */
export const afcStrata: Strata = (r) => `${r.center}|${r.label}`;
/** BRIXIA strata: the authors' label_dim, BIG if global ≥ 9 else SMALL. */
export const bxStrata: Strata = (r) => ((r.global ?? r.label * 5) >= 9 ? 'BIG' : 'SMALL');

const byId = (a: DataRecord, b: DataRecord) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byKey = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : a > b ? 1 : 0);

/** Patient groups (a record without `group` is alone), in id order, keyed by stratum (of the group's first record). */
function strataGroups(records: DataRecord[], key: Strata): Map<string, DataRecord[][]> {
  const groups = new Map<string, DataRecord[]>();
  for (const r of [...records].sort(byId)) {
    const g = r.group ?? `#${r.task}:${r.id}`;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(r);
  }
  const out = new Map<string, DataRecord[][]>();
  for (const g of groups.values()) {
    const k = key(g[0]);
    if (!out.has(k)) out.set(k, []);
    out.get(k)!.push(g);
  }
  return new Map([...out.entries()].sort(byKey));
}

/**
 * k stratified chunks → k folds (test = chunk i, val = chunk i+1, train = the rest).
 *
 *   const folds = stratifiedFolds(afc.records, { seed: 0, strata: afcStrata });   // 5 folds, 60/20/20
 */
export function stratifiedFolds(records: DataRecord[], opts: { seed: number; strata: Strata; k?: number }): Fold[] {
  const k = opts.k ?? 5;
  if (!Number.isInteger(k) || k < 3) throw new MdmtError('EINVAL', 'stratifiedFolds', `k = ${k} must be an integer ≥ 3 (test, val and train chunks)`);
  const chunks: DataRecord[][] = Array.from({ length: k }, () => []);
  // each group goes to the chunk with the fewest of its stratum, then the fewest overall, then
  // the lowest index: single records deal round-robin, so every stratum and chunk size stays
  // within one of its share
  for (const [name, groups] of strataGroups(records, opts.strata)) {
    rng(seedOf(opts.seed, 'kfold', name)).shuffle(groups);
    const inStratum = new Array<number>(k).fill(0);
    for (const g of groups) {
      let best = 0;
      for (let c = 1; c < k; c++) {
        const d = inStratum[c] - inStratum[best] || chunks[c].length - chunks[best].length;
        if (d < 0) best = c;
      }
      chunks[best].push(...g);
      inStratum[best] += g.length;
    }
  }
  return chunks.map((test, i) => ({
    name: String(i),
    test,
    val: chunks[(i + 1) % k],
    train: chunks.filter((_, j) => j !== i && j !== (i + 1) % k).flat(),
  }));
}

/**
 * One fold per centre (sorted by name): that centre is the test set; about `valFrac` of the
 * other centres, stratified by centre × label, is validation.
 *
 *   const folds = locoFolds(afc.records, { seed: 0 });   // folds[i].name = centre
 */
export function locoFolds(records: DataRecord[], opts: { seed: number; valFrac?: number; strata?: Strata }): Fold[] {
  const frac = opts.valFrac ?? 0.1;
  const strata = opts.strata ?? afcStrata;
  const centers = [...new Set(records.map((r) => r.center))].sort();
  if (centers.length < 2) throw new MdmtError('EDATA', 'locoFolds', `leave-one-centre-out needs at least 2 centres, got ${centers.length}`);
  return centers.map((c) => {
    const test = records.filter((r) => r.center === c);
    const rest: DataRecord[][] = [];
    for (const [name, gs] of strataGroups(records.filter((r) => r.center !== c), strata)) rest.push(...rng(seedOf(opts.seed, 'loco', c, name)).shuffle(gs));
    // systematic sampling over the stratum-ordered groups: floor(n·frac) picks, proportional per stratum
    const val: DataRecord[] = [];
    const train: DataRecord[] = [];
    rest.forEach((g, i) => (Math.floor((i + 1) * frac) > Math.floor(i * frac) ? val : train).push(...g));
    return { name: c, train, val, test };
  });
}

function splitLine(r: DataRecord): string {
  const clean = (s: string) => s.replace(/\s+/g, '_');
  return `${clean(r.id)} ${clean(r.labelName)} ${clean(r.center)}`;
}

/**
 * Writes folds as `<dir>/<i>/{train,val,test}.txt` (+ `<dir>/centers` for LOCO: `i centre` lines).
 *
 *   writeFolds('runs/splits/AFC/5', stratifiedFolds(afc.records, { seed: 0, strata: afcStrata }));
 */
export function writeFolds(dir: string, folds: Fold[], opts: { centers?: boolean } = {}): void {
  folds.forEach((f, i) => {
    const d = path.join(dir, String(i));
    fs.mkdirSync(d, { recursive: true });
    for (const part of ['train', 'val', 'test'] as const) {
      const rows = [...f[part]].sort(byId).map(splitLine);
      fs.writeFileSync(path.join(d, `${part}.txt`), ['img label center', ...rows].join('\n') + '\n');
    }
  });
  if (opts.centers) fs.writeFileSync(path.join(dir, 'centers'), folds.map((f, i) => `${i} ${f.name}`).join('\n') + '\n');
}

export interface SplitRow { img: string; label: string; center: string; line: number }

/** Reads one split file (header `img label center`, space-separated). */
export function readSplitFile(file: string): SplitRow[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MdmtError('EIO', 'readSplitFile', `${file}: cannot read split file (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const lines = text.split(/\r?\n/);
  const head = lines[0].trim().split(/\s+/);
  if (head[0] !== 'img' || head[1] !== 'label' || head[2] !== 'center')
    throw new MdmtError('EDATA', 'readSplitFile', `${file}: header is '${lines[0]}', expected 'img label center'`);
  const rows: SplitRow[] = [];
  lines.slice(1).forEach((l, i) => {
    if (!l.trim()) return;
    const [img, label, center] = l.trim().split(/\s+/);
    if (!label || !center) throw new MdmtError('EDATA', 'readSplitFile', `${file} line ${i + 2}: expected 'img label center', got '${l}'`);
    rows.push({ img, label, center, line: i + 2 });
  });
  return rows;
}

/**
 * Reads a fold folder back onto records (matched by id); an id the records lack is an error.
 *
 *   const fold = readFold('runs/splits/AFC/5/0', afc.records);
 */
export function readFold(dir: string, records: DataRecord[]): Fold {
  const byId = new Map(records.map((r) => [r.id.replace(/\s+/g, '_'), r]));
  const part = (p: string) =>
    readSplitFile(path.join(dir, `${p}.txt`)).map((row) => {
      const r = byId.get(row.img);
      if (!r) throw new MdmtError('EDATA', 'readFold', `${path.join(dir, `${p}.txt`)} line ${row.line}: '${row.img}' is not in the data set`);
      return r;
    });
  return { name: path.basename(dir), train: part('train'), val: part('val'), test: part('test') };
}

export interface SplitSet { cv: Fold[]; loco: Fold[] }

/**
 * The standard split set of one data set, written under `<dir>/{5,loCo}/`.
 *
 *   makeSplits('runs/splits/AFC', afc.records, { seed: 0, strata: afcStrata });
 */
export function makeSplits(dir: string, records: DataRecord[], opts: { seed: number; strata: Strata; k?: number }): SplitSet {
  const cv = stratifiedFolds(records, opts);
  const loco = locoFolds(records, { seed: opts.seed, strata: opts.strata === bxStrata ? (r) => `${r.center}|${bxStrata(r)}` : opts.strata });
  writeFolds(path.join(dir, String(opts.k ?? 5)), cv);
  writeFolds(path.join(dir, 'loCo'), loco, { centers: true });
  return { cv, loco };
}
