/**
 * Shared fixtures of the data suites: the repository root, ../shared/data (or
 * $MDMT_SHARED_DATA) with a printed skip reason when absent, a synthetic data set made once
 * per process in a temporary folder, and a temporary-folder helper.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as ExcelJS from 'exceljs';
import { synth, SynthResult } from '../../ts/data/synth';

/** The folder holding package.json, found upward from this file (works from dist/ too). */
export function repoRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** ../shared/data/<sub>, or null after printing why the suite skips. */
export function sharedData(sub: string, suite: string): string | null {
  const base = process.env.MDMT_SHARED_DATA || path.resolve(repoRoot(), '../shared/data');
  const p = path.join(base, sub);
  if (!fs.existsSync(p)) {
    console.log(`  [skip] ${suite}: ${p} not found (set MDMT_SHARED_DATA to the shared data folder)`);
    return null;
  }
  return p;
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mdmt-${tag}-`));
}

let fixture: Promise<SynthResult> | undefined;
/** 90 AIforCOVID + 120 BRIXIA images of 64 px, seed 7, made once per process. */
export function synthFixture(): Promise<SynthResult> {
  fixture ??= synth(tmpDir('synth'), { seed: 7, nAfc: 90, nBx: 120, size: 64 });
  return fixture;
}

/** Runs fn and returns the MdmtError it throws (fails when it does not throw). */
export async function rejects(fn: () => unknown): Promise<Error & { code?: string }> {
  try {
    await fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an error, none was thrown');
}

/** One worksheet of an .xlsx written by `writeXlsx`: rows from the first (the header); state 'hidden' hides it. */
export interface TestWorksheet { name?: string; state?: 'visible' | 'hidden' | 'veryHidden'; rows: ExcelJS.CellValue[][] }

/** Writes an .xlsx of these worksheets (a bare list of rows: one visible worksheet) and returns its path. */
export async function writeXlsx(file: string, sheets: TestWorksheet[] | ExcelJS.CellValue[][]): Promise<string> {
  const ExcelJS = (await import('exceljs')).default;
  const wb = new ExcelJS.Workbook();
  const list = (sheets as unknown[]).every(Array.isArray) ? [{ rows: sheets as ExcelJS.CellValue[][] }] : (sheets as TestWorksheet[]);
  list.forEach((s, i) => {
    const ws = wb.addWorksheet(s.name ?? `s${i + 1}`, { state: s.state ?? 'visible' });
    for (const r of s.rows) ws.addRow(r);
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await wb.xlsx.writeFile(file);
  return file;
}
