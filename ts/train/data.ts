/**
 * The data side of one run: read the records of both tasks (AIforCOVID / BRIXIA roots, real
 * or synthetic, or the covid-cxr subset), write the split files once (atomically: a sweep
 * killed while writing them leaves nothing half-written), read back the fold a run needs and
 * copy its split files into the run directory.
 *
 * Split layout (the authors' format, ts/data/splits.ts): `<splitsDir>/{AFC,BX}/{<k>,loCo}/<i>/
 * {train,val,test}.txt` plus `meta.json` (seed, k, record count). CV fold i of τ1 pairs with
 * CV fold i of τ2; every LOCO fold of τ1 pairs with BRIXIA LOCO fold `bxLocoFold` (the
 * authors' loCo6, paper.md §3).
 *
 *   const recs = await loadRecords(cfg.data);  const f = prepareFold(cfg, recs);  f.afc?.train.length
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { readAIforCOVID, readBrixia, readCovidCxr } from '../data/readers';
import type { DataRecord, Task } from '../data/records';
import { afcStrata, bxStrata, makeSplits, readFold, type Fold } from '../data/splits';
import { experimentTasks, type DataConfig, type TrainConfig } from './config';

export interface TaskRecords { afc: DataRecord[]; bx: DataRecord[] }

/**
 * Reads the records of both tasks. A missing task root gives an empty list.
 *
 * @example const { afc, bx } = await loadRecords({ covidCxr: '../shared/data/covid-cxr' });
 */
export async function loadRecords(data: DataConfig, need: { afc: boolean; bx: boolean } = { afc: true, bx: true }): Promise<TaskRecords> {
  const onBadRecord = data.onBadRecord ?? 'error';
  if (data.covidCxr) {
    const dir = path.resolve(data.covidCxr);
    if (!fs.existsSync(path.join(dir, 'labels.csv'))) throw new MdmtError('EIO', 'data', `${path.join(dir, 'labels.csv')} not found (data.covidCxr)`);
    const { records } = await readCovidCxr(dir, { bins: data.bins ?? 'paper', onBadRecord });
    return { afc: records.filter((r) => r.task === 'AFC'), bx: records.filter((r) => r.task === 'BX') };
  }
  const exists = (p: string | undefined, field: string): string | undefined => {
    if (!p) return undefined;
    const abs = path.resolve(p);
    if (!fs.existsSync(abs)) throw new MdmtError('EIO', 'data', `${field} '${abs}' does not exist`);
    return abs;
  };
  const afcRoot = need.afc ? exists(data.afc, 'data.afc') : undefined;
  const bxRoot = need.bx ? exists(data.bx, 'data.bx') : undefined;
  const afc = afcRoot ? (await readAIforCOVID(afcRoot, { releases: data.afcReleases, onBadRecord })).records : [];
  const bx = bxRoot ? (await readBrixia(bxRoot, { bins: data.bins ?? 'paper', onBadRecord })).records : [];
  return { afc, bx };
}

interface SplitMeta { seed: number; k: number; records: number; ids: string }

function fingerprint(records: DataRecord[]): string {
  // order-independent summary of which records were split (a changed data set must not reuse old splits)
  let h = 2166136261;
  for (const id of records.map((r) => r.id).sort()) for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16);
}

/**
 * Writes `<splitsDir>/<task>/` (CV with k folds and LOCO) unless it is already there, via a
 * temporary folder and one rename. An existing folder made from other records, seed or k is
 * an error naming it.
 *
 * @example ensureSplits('runs/splits', 'AFC', afcRecords, { seed: 0, k: 5 })
 */
export function ensureSplits(splitsDir: string, task: Task, records: DataRecord[], o: { seed: number; k: number }): string {
  const dir = path.join(splitsDir, task);
  const want: SplitMeta = { seed: o.seed, k: o.k, records: records.length, ids: fingerprint(records) };
  const metaFile = path.join(dir, 'meta.json');
  if (!fs.existsSync(metaFile)) {
    if (records.length === 0) throw new MdmtError('EDATA', 'data', `no ${task} records to split`);
    fs.mkdirSync(splitsDir, { recursive: true });
    const tmp = path.join(splitsDir, `.${task}.tmp-${process.pid}-${Date.now()}`);
    makeSplits(tmp, records, { seed: o.seed, strata: task === 'AFC' ? afcStrata : bxStrata, k: o.k });
    fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(want, null, 1) + '\n');
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      // another process wrote them first: theirs are identical (same inputs), use them
      if (!fs.existsSync(metaFile)) throw e;
    }
  }
  const have = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as SplitMeta;
  if (have.seed !== want.seed || have.k !== want.k || have.records !== want.records || have.ids !== want.ids)
    throw new MdmtError('ECONFIG', 'data', `${dir} holds splits of other data or settings (${JSON.stringify(have)} vs ${JSON.stringify(want)}): use another splitsDir or delete it`);
  return dir;
}

/** Number of folds of a protocol in a split folder. */
export function foldCount(taskDir: string, protocol: 'cv' | 'loco', k: number): number {
  const d = path.join(taskDir, protocol === 'cv' ? String(k) : 'loCo');
  return fs.readdirSync(d).filter((n) => /^\d+$/.test(n)).length;
}

/** The LOCO fold names (held-out centres) of a split folder, by fold index. */
export function locoCentres(taskDir: string): string[] {
  const f = path.join(taskDir, 'loCo', 'centers');
  return fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => l.slice(l.indexOf(' ') + 1));
}

export interface RunFolds {
  afc?: Fold;
  bx?: Fold;
  /** the fold's name in results: CV index, or the held-out centre for LOCO */
  name: string;
}

function pick(taskDir: string, protocol: 'cv' | 'loco', k: number, i: number, records: DataRecord[], what: string): Fold {
  const n = foldCount(taskDir, protocol, k);
  if (i >= n) throw new MdmtError('ECONFIG', 'train', `config.${what} is ${i} but ${taskDir} has ${n} ${protocol} folds`);
  return readFold(path.join(taskDir, protocol === 'cv' ? String(k) : 'loCo', String(i)), records);
}

/**
 * The folds a run trains on, with split files written if needed and copied into
 * `<outDir>/split/{AFC,BX}/`.
 *
 * @example prepareFold(cfg, await loadRecords(cfg.data)).afc!.val.length
 */
export function prepareFold(cfg: TrainConfig, recs: TaskRecords): RunFolds {
  const t = experimentTasks(cfg.experiment);
  const needBx = t.bx;
  const needAfc = t.afc;
  const out: RunFolds = { name: String(cfg.fold) };
  if (needAfc) {
    const dir = ensureSplits(cfg.splitsDir, 'AFC', recs.afc, { seed: cfg.splitSeed, k: cfg.kFolds });
    out.afc = pick(dir, cfg.protocol, cfg.kFolds, cfg.fold, recs.afc, 'fold');
    if (cfg.protocol === 'loco') out.name = locoCentres(dir)[cfg.fold];
  }
  if (needBx) {
    const dir = ensureSplits(cfg.splitsDir, 'BX', recs.bx, { seed: cfg.splitSeed, k: cfg.kFolds });
    // stl_bx under LOCO trains on BRIXIA LOCO fold `fold`; MDMT pairs every AFC centre with bxLocoFold
    const i = cfg.protocol === 'cv' || cfg.experiment === 'stl_bx' ? cfg.fold : cfg.bxLocoFold;
    out.bx = pick(dir, cfg.protocol, cfg.kFolds, i, recs.bx, cfg.protocol === 'cv' || cfg.experiment === 'stl_bx' ? 'fold' : 'bxLocoFold');
    if (!needAfc && cfg.protocol === 'loco') out.name = locoCentres(dir)[i];
  }
  for (const [task, fold] of [['AFC', out.afc], ['BX', out.bx]] as const) {
    if (!fold) continue;
    const d = path.join(cfg.outDir, 'split', task);
    fs.mkdirSync(d, { recursive: true });
    for (const part of ['train', 'val', 'test'] as const) {
      const rows = [...fold[part]].map((r) => `${r.id.replace(/\s+/g, '_')} ${r.labelName.replace(/\s+/g, '_')} ${r.center.replace(/\s+/g, '_')}`).sort();
      fs.writeFileSync(path.join(d, `${part}.txt`), ['img label center', ...rows].join('\n') + '\n');
    }
    for (const part of ['train', 'val', 'test'] as const)
      if (fold[part].length === 0) throw new MdmtError('EDATA', 'train', `${task} fold ${out.name} has an empty ${part} set (too few records for this protocol)`);
  }
  return out;
}
