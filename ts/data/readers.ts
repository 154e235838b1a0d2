/**
 * Readers for the real layouts (paper.md §2, §3) and the covid-cxr subset:
 *  - AIforCOVID: `AIforCOVID.xlsx` → `imgs/`, `AIforCOVID_r2.xlsx` → `imgs_r2/`,
 *    `AIforCOVID_r3.xlsx` → `imgs_r3/` (columns `ImageFile`, `Hospital`, `Prognosis`), images
 *    `<ImageFile>.dcm`, masks `processed/masks/<id>.tif` (or .tiff, .png), optional box sheet
 *    `box_data_AXF123.xlsx` (img, all = regionprops [minr, minc, maxr, maxc]), the authors'
 *    eight exclusions;
 *  - BRIXIA: `metadata_global_v2.csv` (`;`, `Filename`, `BrixiaScore`, `BrixiaScoreGlobal`,
 *    `Manufacturer`, optional `Subject`), images `dicom_clean/<Filename>`, masks
 *    `masks/<id>.tiff`, optional box sheet `box_data_BX.xlsx`; one patient's films share a
 *    group (`Subject`), and the centre is the manufacturer normalised as the authors'
 *    LoHo_validation.py does, in their three LOCO groups (`brixiaCentre`);
 *  - covid-cxr: `labels.csv` (`file` relative to its folder, or absolute), prognosis from
 *    `went_icu` or `survival`, severity from `brixia_global_senior` (or junior).
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { AFC_RELEASES, BadRecords, BinRule, Dataset, DataRecord, DataSetError, OnBad, SplitNames, Tally, binGlobal, findMask, padBrixia, splitToken } from './records';
import { Box } from './preprocess';
import { cellOf, readCsv, readSheet, requireColumns, Sheet } from './sheets';

/** paper.md §1.7: hard-coded AFC exclusions of the authors' loader */
export const AFC_EXCLUDED = ['P_3_391', 'P_3_377', 'P_3_20', 'P_3_108', 'P_1_16', 'P_3_341', 'P_3_411', 'P_3_208'];
export { AFC_RELEASES };

const bad = (op: string, where: string, detail: string, code: 'EDATA' | 'EIO' = 'EDATA') => new MdmtError(code, op, `${where}: ${detail}`);

/**
 * A sheet cell as an integer, strictly: digits with an optional sign and a '.0' that
 * spreadsheets append; anything else is NaN (Number() would read '0xC', '1.2e1' and
 * 'Infinity' as numbers, so a garbled cell could pass as a score).
 */
export function intCell(s: string): number {
  return /^[+-]?\d+(\.0*)?$/.test(s.trim()) ? Number(s) : NaN;
}

function checkFile(op: string, where: string, file: string, what: string): string {
  if (fs.existsSync(file)) return file;
  // a sheet written on Windows ('images\\a.png'): here a backslash is part of the file name
  const slashed = path.sep === '/' && file.includes('\\') ? file.replace(/\\/g, '/') : undefined;
  const hint = slashed && fs.existsSync(slashed) ? `; ${slashed} exists: write the sheet's paths with '/' (a backslash is part of a file name here)` : '';
  throw bad(op, where, `${what} not found: ${file}${hint}`, 'EIO');
}

/** Where a centre was first seen: its sheet and row. */
type CentreRow = { file: string; line: number };

/**
 * Refuses a centre spelt like an earlier row's but not the same: spacing gives both one token
 * in the split files, and case (with a case-folding `centres`) two leave-one-centre-out centres;
 * either way a typo is likelier than two centres so named.
 */
function checkCentre(centres: SplitNames<CentreRow>, centre: string, col: string, at: CentreRow, op: string): void {
  const o = centres.get(centre);
  if (!o || o.name === centre) return;
  const first = o.at.file === at.file ? `row ${o.at.line}` : `${o.at.file} row ${o.at.line}`;
  const why = splitToken(o.name) === splitToken(centre)
    ? `the split files write both as '${splitToken(centre)}', while leave-one-centre-out would hold them out as two centres`
    : `they differ only in case${o.name.toLowerCase() === centre.toLowerCase() ? '' : ' and spacing'} and would be separate centres (two leave-one-centre-out folds)`;
  // a no-break or zero-width space would print like a plain one: written as \u00a0
  const seen = (v: string) => v.replace(/[\u00a0\u2000-\u200b\u202f\u3000\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  throw new DataSetError('EDATA', op, `${at.file} row ${at.line}: column '${col}' is '${seen(centre)}' but ${first} has '${seen(o.name)}': ${why}; spell the centre one way`);
}

/** Parses '[a, b, c, d]' (regionprops min_row, min_col, max_row, max_col) into [x, y, w, h]. */
export function parseRegionBox(s: string, where: string, op = 'readBoxSheet'): Box {
  const v = s.replace(/[[\]()]/g, '').split(/[,\s]+/).filter(Boolean).map(Number);
  if (v.length !== 4 || v.some((x) => !Number.isFinite(x)) || v[2] <= v[0] || v[3] <= v[1])
    throw bad(op, where, `box '${s}' is not [min_row, min_col, max_row, max_col]`);
  return [v[1], v[0], v[3] - v[1], v[2] - v[0]];
}

/**
 * A box sheet (`box_data_AXF123.xlsx`, `box_data_BX.xlsx`): column `img` → the `all` box;
 * `note` gets how the sheet was read (hidden worksheets skipped), for the reader's summary.
 */
export async function readBoxSheet(file: string, bads: BadRecords, op: string, note: (text: string | undefined) => void = () => {}): Promise<Map<string, Box>> {
  const boxes = new Map<string, Box>();
  const bs = await readSheet(file);
  requireColumns(bs, ['img', 'all']);
  note(bs.note);
  const first = new Map<string, number>();
  for (const r of bs.rows) {
    const w = `${file} row ${r.line}`;
    const got = bads.guard(w, file, () => {
      const id = cellOf(r, 'img', w, op).replace(/\.dcm$/i, '');
      // two boxes for one image: the last won silently, and which one is right is unknown
      if (first.has(id)) throw bad(op, w, `img '${r.cells.img}' appears twice (first on row ${first.get(id)})`);
      first.set(id, r.line);
      return [id, parseRegionBox(cellOf(r, 'all', w, op), `${w} column 'all'`, op)] as const;
    });
    if (got) boxes.set(...got);
  }
  return boxes;
}

export interface AfcOptions {
  /** releases to read (default [1, 2, 3]) */
  releases?: number[];
  /** ids to drop (default the authors' eight, AFC_EXCLUDED) */
  exclude?: string[];
  /** mask folder (default `<root>/processed/masks` when present) or null for none */
  maskDir?: string | null;
  /** box sheet (default `<root>/box_data_AXF123.xlsx` when present) or null for none */
  boxFile?: string | null;
  /** check that every image exists (default true) */
  checkFiles?: boolean;
  onBadRecord?: OnBad;
}

/** For a missing release sheet: how to read only the releases whose sheets are in `root` (none there: no hint). */
function releasesHint(root: string): string {
  const have = Object.entries(AFC_RELEASES).filter(([, s]) => fs.existsSync(path.join(root, s.sheet)));
  if (!have.length) return '';
  const list = `[${have.map(([r]) => r).join(', ')}]`;
  return `; to read only the releases you have (${have.map(([, s]) => s.sheet).join(', ')}), give --afc-releases ${have.map(([r]) => r).join(',')} to mdmt train or mdmt experiment, data.afcReleases: ${list} to train(), or releases: ${list} to readAIforCOVID`;
}

/**
 * Reads AIforCOVID from its root folder.
 *
 *   const { records, skipped } = await readAIforCOVID('/data/AIforCOVID', { releases: [1] });
 */
export async function readAIforCOVID(root: string, opts: AfcOptions = {}): Promise<Dataset> {
  const op = 'readAIforCOVID';
  const bads = new BadRecords(opts.onBadRecord ?? 'error');
  const exclude = new Set((opts.exclude ?? AFC_EXCLUDED).map((s) => s.replace(/\.dcm$/i, '')));
  const maskDir = opts.maskDir === undefined ? (fs.existsSync(path.join(root, 'processed/masks')) ? path.join(root, 'processed/masks') : null) : opts.maskDir;
  const boxFile = opts.boxFile === undefined ? (fs.existsSync(path.join(root, 'box_data_AXF123.xlsx')) ? path.join(root, 'box_data_AXF123.xlsx') : null) : opts.boxFile;
  const tally = new Tally();
  const boxes = boxFile ? await readBoxSheet(boxFile, bads, op, (n) => tally.note(n)) : new Map<string, Box>();
  const records: DataRecord[] = [];
  const seen = new Set<string>();
  // 'Centro A', 'Centro  A' and 'centro a' are one hospital mistyped, not three LOCO centres
  const centres = new SplitNames<CentreRow>(true);
  const sheets: string[] = [];
  for (const rel of opts.releases ?? [1, 2, 3]) {
    const spec = AFC_RELEASES[rel];
    if (!spec) throw new MdmtError('EINVAL', op, `unknown AIforCOVID release ${rel} (1, 2 or 3)`);
    const sheetFile = path.join(root, spec.sheet);
    if (!fs.existsSync(sheetFile)) throw new MdmtError('EIO', op, `${sheetFile}: sheet file not found${releasesHint(root)}`);
    const sheet: Sheet = await readSheet(sheetFile);
    requireColumns(sheet, ['ImageFile', 'Hospital', 'Prognosis']);
    tally.note(sheet.note);
    sheets.push(spec.sheet);
    tally.rows += sheet.rows.length;
    for (const r of sheet.rows) {
      const where = `${sheetFile} row ${r.line}`;
      const rec = bads.guard(where, undefined, () => {
        const id = cellOf(r, 'ImageFile', where, op).replace(/\.dcm$/i, '');
        if (!id) throw bad(op, where, "column 'ImageFile' is empty");
        if (exclude.has(id)) {
          tally.drop('excluded (the authors\' list, AfcOptions.exclude)');
          return null;
        }
        if (seen.has(id)) throw bad(op, where, `ImageFile '${id}' appears twice`);
        const prog = cellOf(r, 'Prognosis', where, op).toUpperCase();
        if (prog !== 'MILD' && prog !== 'SEVERE') throw bad(op, where, `column 'Prognosis' is '${r.cells.Prognosis}' (expected MILD or SEVERE)`);
        const center = cellOf(r, 'Hospital', where, op);
        if (!center) throw bad(op, where, "column 'Hospital' is empty");
        checkCentre(centres, center, 'Hospital', { file: sheetFile, line: r.line }, op);
        const image = path.join(root, spec.dir, `${id}.dcm`);
        if (opts.checkFiles ?? true) checkFile(op, where, image, 'image');
        const mask = maskDir ? findMask(maskDir, id, '.tif') : undefined;
        const out: DataRecord = {
          id, task: 'AFC', source: 'aiforcovid', image, center, label: prog === 'SEVERE' ? 1 : 0, labelName: prog, where,
        };
        if (mask) out.mask = mask;
        const b = boxes.get(id);
        if (b) out.box = b;
        return out;
      });
      if (rec) {
        seen.add(rec.id);
        centres.add(rec.center, { file: sheetFile, line: r.line });
        records.push(rec);
      }
    }
  }
  return { records, skipped: bads.list, summary: tally.summary(`AIforCOVID ${path.join(root, sheets.join(' + '))}`, records, bads) };
}

/**
 * The authors' manufacturer names (LoHo_validation.py): the DICOM Manufacturer upper-cased, name
 * variants merged. The merged names themselves map to themselves, so normalised sheets (such
 * as the synthetic ones) read the same.
 */
export const BX_MANUFACTURERS: Readonly<Record<string, string>> = {
  SIEMENS: 'SIEMENS', AGFA: 'AGFA', 'AGFA-GEVAERT': 'AGFA', 'CARESTREAM HEALTH': 'CARESTREAM', CARESTREAM: 'CARESTREAM',
  'VILLA SISTEMI MEDICALI': 'VSM', VSM: 'VSM', KODAK: 'KODAK', 'FUJIFILM CORPORATION': 'FUJIFILM', FUJIFILM: 'FUJIFILM', DIGITEC: 'DIGITEC',
};
/**
 * Their three LOCO centres, in their fold order: after numbering the seven manufacturers they
 * recombine KODAK into SIEMENS' id, FUJIFILM into AGFA's and VSM and DIGITEC into CARESTREAM's
 * (computed radiography of two vendor pairs, and the digital X-ray units).
 */
export const BX_CENTRE_GROUPS: readonly { name: string; members: readonly string[] }[] = [
  { name: 'SIEMENS+KODAK', members: ['SIEMENS', 'KODAK'] },
  { name: 'AGFA+FUJIFILM', members: ['AGFA', 'FUJIFILM'] },
  { name: 'CARESTREAM+VSM+DIGITEC', members: ['CARESTREAM', 'VSM', 'DIGITEC'] },
];

/**
 * The LOCO centre of a BRIXIA film: its manufacturer's group (default) or, with 'raw' (the
 * `--preset code` setting), the Manufacturer string as written. An unknown manufacturer is an
 * error naming it (the authors' map turns it into a missing value).
 *
 *   brixiaCentre('Carestream Health') === 'CARESTREAM+VSM+DIGITEC';  brixiaCentre('Kodak', 'raw') === 'Kodak'
 */
export function brixiaCentre(manufacturer: string, mode: 'groups' | 'raw' = 'groups', where = 'BrixiaCentre'): string {
  if (mode === 'raw') return manufacturer || 'unknown';
  const name = BX_MANUFACTURERS[manufacturer.trim().toUpperCase()];
  const group = name && BX_CENTRE_GROUPS.find((g) => g.members.includes(name));
  if (!group) throw bad('readBrixia', where, `column 'Manufacturer' is '${manufacturer}', not one of the authors' manufacturers (${Object.keys(BX_MANUFACTURERS).join(', ')}); data.bxCentres 'raw' keeps the strings as written`);
  return group.name;
}

export interface BrixiaOptions {
  /** metadata sheet (default `<root>/metadata_global_v2.csv`) */
  csv?: string;
  /** image folder (default `<root>/dicom_clean`) */
  imageDir?: string;
  /** mask folder (default `<root>/masks` when present) or null */
  maskDir?: string | null;
  /** box sheet (default `<root>/box_data_BX.xlsx` when present) or null */
  boxFile?: string | null;
  bins?: BinRule;
  /** patient groups: one per `Subject` (default; films of one patient never cross splits) or per image (the authors' split) */
  groupBy?: 'subject' | 'image';
  /** LOCO centres: the authors' three manufacturer groups (default) or the raw Manufacturer strings */
  centres?: 'groups' | 'raw';
  checkFiles?: boolean;
  onBadRecord?: OnBad;
}

/**
 * Reads BRIXIA from its root folder; labels are the 4-class bins of BrixiaScoreGlobal.
 *
 *   const { records } = await readBrixia('/data/BRIXIA', { bins: 'paper' });
 */
export async function readBrixia(root: string, opts: BrixiaOptions = {}): Promise<Dataset> {
  const op = 'readBrixia';
  const bads = new BadRecords(opts.onBadRecord ?? 'error');
  const csv = opts.csv ?? path.join(root, 'metadata_global_v2.csv');
  const imageDir = opts.imageDir ?? path.join(root, 'dicom_clean');
  const maskDir = opts.maskDir === undefined ? (fs.existsSync(path.join(root, 'masks')) ? path.join(root, 'masks') : null) : opts.maskDir;
  const boxFile = opts.boxFile === undefined ? (fs.existsSync(path.join(root, 'box_data_BX.xlsx')) ? path.join(root, 'box_data_BX.xlsx') : null) : opts.boxFile;
  const tally = new Tally();
  const boxes = boxFile ? await readBoxSheet(boxFile, bads, op, (n) => tally.note(n)) : new Map<string, Box>();
  const sheet = readCsv(csv, ';');
  requireColumns(sheet, ['Filename', 'BrixiaScore', 'BrixiaScoreGlobal', 'Manufacturer']);
  const records: DataRecord[] = [];
  const seen = new Map<string, number>();
  // raw Manufacturer strings: 'X  Y' and 'X Y' would be one token in the split files (case is
  // kept: the authors' split files have the strings as written)
  const centres = new SplitNames<CentreRow>();
  tally.rows = sheet.rows.length;
  for (const r of sheet.rows) {
    const where = `${csv} row ${r.line}`;
    const rec = bads.guard(where, undefined, () => {
      const fname = r.cells.Filename;
      if (!fname) throw bad(op, where, "column 'Filename' is empty");
      const id = fname.replace(/\.dcm$/i, '');
      // two rows for one image would put it in two folds (or twice in one) with maybe two labels
      if (seen.has(id)) throw bad(op, where, `Filename '${fname}' appears twice (first on row ${seen.get(id)})`);
      seen.set(id, r.line);
      const score = padBrixia(r.cells.BrixiaScore, `${where} column 'BrixiaScore'`);
      const g = intCell(r.cells.BrixiaScoreGlobal);
      if (r.cells.BrixiaScoreGlobal === '' || !Number.isInteger(g) || g < 0 || g > 18)
        throw bad(op, where, `column 'BrixiaScoreGlobal' is '${r.cells.BrixiaScoreGlobal}' (expected an integer 0..18)`);
      const sum = [...score].reduce((a, c) => a + Number(c), 0);
      if (sum !== g) throw bad(op, where, `BrixiaScoreGlobal ${g} differs from the sum ${sum} of BrixiaScore ${score}`);
      const image = path.join(imageDir, /\.dcm$/i.test(fname) ? fname : `${fname}.dcm`);
      if (opts.checkFiles ?? true) checkFile(op, where, image, 'image');
      const center = brixiaCentre(r.cells.Manufacturer, opts.centres ?? 'groups', where);
      checkCentre(centres, center, 'Manufacturer', { file: csv, line: r.line }, op);
      const out: DataRecord = {
        id, task: 'BX', source: 'brixia', image, center,
        label: binGlobal(g, opts.bins ?? 'paper'), labelName: score, global: g, where,
      };
      if ((opts.groupBy ?? 'subject') === 'subject' && r.cells.Subject) out.group = `subject ${r.cells.Subject}`;
      if (maskDir) {
        const m = findMask(maskDir, id, '.tiff');
        if (m) out.mask = m;
      }
      const b = boxes.get(id);
      if (b) out.box = b;
      return out;
    });
    if (rec) {
      centres.add(rec.center, { file: csv, line: r.line });
      records.push(rec);
    }
  }
  return { records, skipped: bads.list, summary: tally.summary(`BRIXIA ${csv}`, records, bads, opts.bins) };
}

export interface CovidCxrOptions {
  /** prognosis column: went_icu (Y = SEVERE) or survival (N = SEVERE); null = no τ1 records */
  prognosis?: 'went_icu' | 'survival' | null;
  /** severity column; null = no τ2 records */
  severity?: 'brixia_global_senior' | 'brixia_global_junior' | null;
  bins?: BinRule;
  checkFiles?: boolean;
  onBadRecord?: OnBad;
}

/**
 * Reads ../shared/data/covid-cxr (`labels.csv`): τ1 records from the prognosis column, τ2
 * records from the Brixia global score; the centre is the host of `source_url`.
 *
 *   const { records } = await readCovidCxr(dir, { prognosis: 'went_icu' });
 */
// async like the other readers, so that every failure arrives as a rejection
// eslint-disable-next-line @typescript-eslint/require-await
export async function readCovidCxr(dir: string, opts: CovidCxrOptions = {}): Promise<Dataset> {
  const op = 'readCovidCxr';
  const bads = new BadRecords(opts.onBadRecord ?? 'error');
  const csv = path.join(dir, 'labels.csv');
  const sheet = readCsv(csv, ',');
  const prog = opts.prognosis === undefined ? 'went_icu' : opts.prognosis;
  const sev = opts.severity === undefined ? 'brixia_global_senior' : opts.severity;
  requireColumns(sheet, ['file', 'source_url', ...(prog ? [prog] : []), ...(sev ? [sev] : [])]);
  const records: DataRecord[] = [];
  const seen = new Map<string, number>();
  const ids = new SplitNames<{ line: number; file: string }>();
  const tally = new Tally();
  tally.rows = sheet.rows.length;
  for (const r of sheet.rows) {
    const where = `${csv} row ${r.line}`;
    // counted once the row is read: a row skipped as bad is counted as that only (it was also
    // counted as 'without a went_icu value' when that check ran before the failing one)
    const drops: string[] = [];
    const got = bads.guard(where, undefined, () => {
      const out: DataRecord[] = [];
      if (!r.cells.file) throw bad(op, where, "column 'file' is empty");
      // './images/a.png' and 'images/../images/a.png' are one image: compare normalised paths
      const file = path.normalize(r.cells.file);
      if (seen.has(file)) throw bad(op, where, `file '${r.cells.file}' appears twice (first on row ${seen.get(file)})`);
      // relative to the folder of labels.csv; an absolute path is taken as it is (joined, it named a file under the folder that no one wrote)
      const image = path.resolve(dir, file);
      const id = path.basename(file).replace(/\.[^.]+$/, '');
      // the id names the record in the split files: two images with one id would be one record
      // there (a leak between train and validation, and a lost label)
      const other = ids.get(id);
      if (other) throw bad(op, where, `file '${r.cells.file}' has the id '${id}' of row ${other.at.line}'s '${other.at.file}' (a record's id is its file name without folder and extension; rename one)`);
      seen.set(file, r.line);
      ids.add(id, { line: r.line, file: r.cells.file });
      let center = 'unknown';
      try {
        center = new URL(r.cells.source_url).host.replace(/^www\./, '') || 'unknown';
      } catch {
        /* keep 'unknown' */
      }
      const base = { source: 'covid-cxr', image, center, where, group: `patient ${r.cells.patientid || id}` };
      if (prog) {
        const v = r.cells[prog].toUpperCase();
        if (v !== '' && v !== 'Y' && v !== 'N') throw bad(op, where, `column '${prog}' is '${r.cells[prog]}' (expected Y, N or blank)`);
        if (v) {
          const severe = prog === 'went_icu' ? v === 'Y' : v === 'N';
          out.push({ ...base, id, task: 'AFC', label: severe ? 1 : 0, labelName: severe ? 'SEVERE' : 'MILD' });
        } else drops.push(`rows without a ${prog} value (no τ1 record)`);
      }
      if (sev && r.cells[sev] === '') drops.push(`rows without a ${sev} value (no τ2 record)`);
      if (sev && r.cells[sev] !== '') {
        const g = intCell(r.cells[sev]);
        if (!Number.isInteger(g) || g < 0 || g > 18) throw bad(op, where, `column '${sev}' is '${r.cells[sev]}' (expected an integer 0..18)`);
        out.push({ ...base, id, task: 'BX', label: binGlobal(g, opts.bins ?? 'paper'), labelName: String(g), global: g });
      }
      if (out.length && (opts.checkFiles ?? true)) checkFile(op, where, image, 'image');
      return out;
    });
    if (!got) continue;
    records.push(...got);
    for (const d of drops) tally.drop(d);
  }
  return { records, skipped: bads.list, summary: tally.summary(`covid-cxr ${csv}`, records, bads, opts.bins) };
}
