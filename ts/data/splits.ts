/**
 * Splits as files (paper.md §2, §3): 5-fold stratified 60/20/20 (fold k tests on chunk k,
 * validates on chunk k+1, trains on the other three; AIforCOVID stratified by centre × label,
 * BRIXIA by global ≥ 9) and leave-one-centre-out (test = one centre, validation ≈ 10 % of the
 * rest stratified by centre × label). Records that share a `group` (one patient's films: covid-cxr
 * patients, BRIXIA `Subject`s) always land in the same part, in CV and in LOCO (a group whose films
 * come from several centres belongs to the centre of most of them). When the two tasks share
 * images or patients (covid-cxr: one film may carry both labels), `jointSplits` splits the union
 * once and derives each task's parts from it, so no test film or patient of one task is in the
 * other task's training set. Files are the authors' format: space-separated with the header
 * `img label center`, under `<dir>/<k>/{train,val,test}.txt`. Everything is a function of the
 * records and the seed, so the same seed writes byte-identical files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { makeDirs } from '../dirs';
import { MdmtError } from '../errors';
import { DataRecord, splitToken } from './records';
import { rng, seedOf } from './rng';

export interface Fold { name: string; train: DataRecord[]; val: DataRecord[]; test: DataRecord[] }
export type Strata = (r: DataRecord) => string;

/** AIforCOVID strata: centre × label. */
export const afcStrata: Strata = (r) => `${r.center}|${r.label}`;
/** BRIXIA strata: the authors' label_dim, BIG if global ≥ 9 else SMALL. */
export const bxStrata: Strata = (r) => ((r.global ?? r.label * 5) >= 9 ? 'BIG' : 'SMALL');

const byId = (a: DataRecord, b: DataRecord) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byKey = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : a > b ? 1 : 0);

/** The group key of a record (a record without `group` is alone). */
const groupOf = (r: DataRecord) => r.group ?? `#${r.task}:${r.id}`;

/** Patient groups in id order (of their first record). */
function groupsOf(records: DataRecord[]): DataRecord[][] {
  const groups = new Map<string, DataRecord[]>();
  for (const r of [...records].sort(byId)) {
    const g = groupOf(r);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(r);
  }
  return [...groups.values()];
}

/** Patient groups keyed by stratum: a group's stratum is its first τ1 record's (τ1 drives the protocol), else its first record's. */
function strataGroups(records: DataRecord[], key: Strata): Map<string, DataRecord[][]> {
  const out = new Map<string, DataRecord[][]>();
  for (const g of groupsOf(records)) {
    const k = key(g.find((r) => r.task === 'AFC') ?? g[0]);
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
  // each group goes to the chunk with the fewest of its stratum, then the fewest of its class
  // (task and label, which strata such as centre × label subdivide), then the fewest overall,
  // then the lowest index: single records deal round-robin, so every stratum, every class total
  // and every chunk size stays within one of its share (a stratum's remainder goes where its
  // class is short, rather than piling up in the same chunks stratum after stratum)
  const inClass = new Map<string, number[]>();
  for (const [name, groups] of strataGroups(records, opts.strata)) {
    rng(seedOf(opts.seed, 'kfold', name)).shuffle(groups);
    const inStratum = new Array<number>(k).fill(0);
    for (const g of groups) {
      const r = g.find((x) => x.task === 'AFC') ?? g[0];
      const cls = `${r.task}|${r.label}`;
      if (!inClass.has(cls)) inClass.set(cls, new Array<number>(k).fill(0));
      const ofClass = inClass.get(cls)!;
      let best = 0;
      for (let c = 1; c < k; c++) {
        const d = inStratum[c] - inStratum[best] || ofClass[c] - ofClass[best] || chunks[c].length - chunks[best].length;
        if (d < 0) best = c;
      }
      chunks[best].push(...g);
      inStratum[best] += g.length;
      ofClass[best] += g.length;
    }
  }
  return chunks.map((test, i) => ({
    name: String(i),
    test,
    val: chunks[(i + 1) % k],
    train: chunks.filter((_, j) => j !== i && j !== (i + 1) % k).flat(),
  }));
}

/** The centre of a group: the centre of most of its records (ties: the first by name). */
function groupCentre(g: DataRecord[]): string {
  const n = new Map<string, number>();
  for (const r of g) n.set(r.center, (n.get(r.center) ?? 0) + 1);
  return [...n].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))[0][0];
}

/**
 * The centres leave-one-centre-out holds out, sorted: the centre of each patient group.
 *
 *   locoCentresOf(afc.records).length   // 6: one LOCO fold each
 */
export function locoCentresOf(records: DataRecord[]): string[] {
  return [...new Set(groupsOf(records).map(groupCentre))].sort();
}

/**
 * One fold per centre: that centre's patients are the test set; about `valFrac` of the other
 * patients, stratified by centre × label, is validation. `centres` lists the held-out centres
 * in fold order (those without records are left out; default: every centre, sorted by name);
 * records of other centres are always in train or validation.
 *
 *   const folds = locoFolds(afc.records, { seed: 0 });   // folds[i].name = centre
 */
export function locoFolds(records: DataRecord[], opts: { seed: number; valFrac?: number; strata?: Strata; centres?: string[] }): Fold[] {
  const frac = opts.valFrac ?? 0.1;
  const strata = opts.strata ?? afcStrata;
  const groups = groupsOf(records).map((g) => ({ g, centre: groupCentre(g) }));
  const all = locoCentresOf(records);
  const centers = opts.centres ? opts.centres.filter((c) => all.includes(c)) : all;
  if (all.length < 2) throw new MdmtError('EDATA', 'locoFolds', `leave-one-centre-out needs at least 2 centres, got ${all.length}`);
  return centers.map((c) => {
    const test = groups.filter((x) => x.centre === c).flatMap((x) => x.g);
    const rest: DataRecord[][] = [];
    const others = groups.filter((x) => x.centre !== c).flatMap((x) => x.g);
    for (const [name, gs] of strataGroups(others, strata)) rest.push(...rng(seedOf(opts.seed, 'loco', c, name)).shuffle(gs));
    // systematic sampling over the stratum-ordered groups: floor(n·frac) picks, proportional per stratum
    const val: DataRecord[] = [];
    const train: DataRecord[] = [];
    rest.forEach((g, i) => (Math.floor((i + 1) * frac) > Math.floor(i * frac) ? val : train).push(...g));
    return { name: c, train, val, test };
  });
}

/** A record's line in a split file: `img label center`. */
export function splitLine(r: DataRecord): string {
  return `${splitToken(r.id)} ${splitToken(r.labelName)} ${splitToken(r.center)}`;
}

/**
 * Writes folds as `<dir>/<i>/{train,val,test}.txt` (+ `<dir>/centers` for LOCO: `i centre` lines).
 *
 *   writeFolds('runs/splits/AFC/5', stratifiedFolds(afc.records, { seed: 0, strata: afcStrata }));
 */
export function writeFolds(dir: string, folds: Fold[], opts: { centers?: boolean } = {}): void {
  makeDirs(dir); // no folds (LOCO of one centre): the folder says so, with an empty centers file
  folds.forEach((f, i) => {
    const d = path.join(dir, String(i));
    makeDirs(d);
    for (const part of ['train', 'val', 'test'] as const) {
      const rows = [...f[part]].sort(byId).map(splitLine);
      fs.writeFileSync(path.join(d, `${part}.txt`), ['img label center', ...rows].join('\n') + '\n');
    }
  });
  if (opts.centers) fs.writeFileSync(path.join(dir, 'centers'), folds.map((f, i) => `${i} ${f.name}\n`).join(''));
}

export interface SplitRow { img: string; label: string; center: string; line: number }

/** Reads one split file (header `img label center`, space-separated). */
export function readSplitFile(file: string): SplitRow[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MdmtError('EIO', 'readSplitFile', `${file}: cannot read split file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
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
  const byId = new Map<string, DataRecord>();
  for (const r of records) {
    const k = splitToken(r.id);
    const o = byId.get(k);
    // a second record under one split id would silently replace the first (one image in two
    // parts, the other never seen)
    if (o) throw new MdmtError('EDATA', 'readFold', `records '${o.image}' and '${r.image}' share the split-file id '${k}': ids must be unique within a data set`);
    byId.set(k, r);
  }
  const part = (p: string) =>
    readSplitFile(path.join(dir, `${p}.txt`)).map((row) => {
      const r = byId.get(row.img);
      if (!r) throw new MdmtError('EDATA', 'readFold', `${path.join(dir, `${p}.txt`)} line ${row.line}: '${row.img}' is not in the data set`);
      return r;
    });
  return { name: path.basename(dir), train: part('train'), val: part('val'), test: part('test') };
}

export interface SplitSet { cv: Fold[]; loco: Fold[] }

/** LOCO validation strata: AIforCOVID centre × label, BRIXIA centre × (global ≥ 9). */
const locoStrata = (strata: Strata): Strata => (strata === bxStrata ? (r) => `${r.center}|${bxStrata(r)}` : strata);

function writeSplitSet(dir: string, s: SplitSet, k: number): void {
  writeFolds(path.join(dir, String(k)), s.cv);
  writeFolds(path.join(dir, 'loCo'), s.loco, { centers: true });
}

/**
 * The standard split set of one data set, written under `<dir>/{5,loCo}/`. `centres` orders
 * the LOCO folds (default: sorted by name).
 *
 *   makeSplits('runs/splits/AFC', afc.records, { seed: 0, strata: afcStrata });
 */
export function makeSplits(dir: string, records: DataRecord[], opts: { seed: number; strata: Strata; k?: number; centres?: string[] }): SplitSet {
  const set = {
    cv: stratifiedFolds(records, opts),
    // one centre has nothing to hold out: no LOCO folds (a LOCO run is refused naming the centre), CV still splits
    loco: locoCentresOf(records).length < 2 ? [] : locoFolds(records, { seed: opts.seed, strata: locoStrata(opts.strata), centres: opts.centres }),
  };
  writeSplitSet(dir, set, opts.k ?? 5);
  return set;
}

/**
 * Links records that share a patient group or an image (a covid-cxr film carries a τ1 and a τ2
 * label: two records, one image) into one group, by union-find over those keys. Returns copies
 * whose `group` names their linked component (its smallest key, so the result does not depend
 * on the input order) and the number of components that hold records of both tasks.
 *
 *   linkRecords([...afc, ...bx]).shared  // 0 for AIforCOVID + BRIXIA, > 0 for covid-cxr
 */
export function linkRecords(records: DataRecord[]): { records: DataRecord[]; shared: number } {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  const keys = (r: DataRecord) => [`image ${path.resolve(r.image)}`, ...(r.group ? [`group ${r.group}`] : [])];
  for (const r of records) {
    const ks = keys(r);
    for (const k of ks) if (!parent.has(k)) parent.set(k, k);
    for (const k of ks.slice(1)) {
      const [a, b] = [find(ks[0]), find(k)];
      if (a !== b) parent.set(a < b ? b : a, a < b ? a : b);
    }
  }
  const tasks = new Map<string, Set<string>>();
  const out = records.map((r) => {
    const g = find(keys(r)[0]);
    if (!tasks.has(g)) tasks.set(g, new Set());
    tasks.get(g)!.add(r.task);
    return { ...r, group: g };
  });
  return { records: out, shared: [...tasks.values()].filter((t) => t.size > 1).length };
}

/** Strata of a joint split: τ1 centre × label, τ2 global ≥ 9 (a mixed group takes its τ1 record's). */
export const jointStrata: Strata = (r) => (r.task === 'AFC' ? `AFC|${afcStrata(r)}` : `BX|${bxStrata(r)}`);

/**
 * One split of both tasks' records when they share images or patients: the linked union is
 * split once by patient (CV stratified by `jointStrata`; LOCO holds out each τ1 centre), and
 * each task's parts are its records in those parts. So fold i of τ1 and fold i of τ2 have one
 * test set of patients, and pairing them (MDMT, FT, and the STL models they start from) never
 * trains on a test patient of the other task. Written as `<dirs.afc>` and `<dirs.bx>` in the
 * usual layout (both LOCO `centers` files list the τ1 centres).
 *
 *   jointSplits({ afc: 'splits/AFC', bx: 'splits/BX' }, afc, bx, { seed: 0 });
 */
export function jointSplits(dirs: { afc?: string; bx?: string }, afc: DataRecord[], bx: DataRecord[], opts: { seed: number; k?: number }): { afc: SplitSet; bx: SplitSet } {
  const { records } = linkRecords([...afc, ...bx]);
  const centres = [...new Set(groupsOf(records).filter((g) => g.some((r) => r.task === 'AFC')).map(groupCentre))].sort();
  const both: SplitSet = {
    cv: stratifiedFolds(records, { seed: opts.seed, strata: jointStrata, k: opts.k }),
    loco: centres.length < 2 ? [] : locoFolds(records, { seed: opts.seed, centres, strata: (r) => (r.task === 'AFC' ? afcStrata(r) : `${r.center}|BX|${bxStrata(r)}`) }),
  };
  const only = (task: string): SplitSet => {
    const f = (x: Fold): Fold => ({ name: x.name, train: x.train.filter((r) => r.task === task), val: x.val.filter((r) => r.task === task), test: x.test.filter((r) => r.task === task) });
    return { cv: both.cv.map(f), loco: both.loco.map(f) };
  };
  const out = { afc: only('AFC'), bx: only('BX') };
  if (dirs.afc) writeSplitSet(dirs.afc, out.afc, opts.k ?? 5);
  if (dirs.bx) writeSplitSet(dirs.bx, out.bx, opts.k ?? 5);
  return out;
}
