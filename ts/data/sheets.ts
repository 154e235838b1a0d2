/**
 * Sheet input for the readers: `.csv` (any separator, RFC 4180 quotes) and `.xlsx` (exceljs),
 * both as a header plus rows of trimmed strings, with errors that name the file, the row
 * (1-based, as a spreadsheet shows it) and the column.
 */
import * as fs from 'fs';
import ExcelJS from 'exceljs';
import { MdmtError } from '../errors';

export interface Sheet {
  file: string;
  header: string[];
  /** data rows; `line` is the spreadsheet row number (header = 1) */
  rows: { line: number; cells: Record<string, string> }[];
}

/** Splits CSV text into rows of fields, honouring double quotes. */
export function parseCsv(text: string, sep = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          f += '"';
          i++;
        } else q = false;
      } else f += c;
    } else if (c === '"') q = true;
    else if (c === sep) {
      row.push(f);
      f = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(f);
      rows.push(row);
      row = [];
      f = '';
    } else f += c;
  }
  if (f !== '' || row.length > 0) {
    row.push(f);
    rows.push(row);
  }
  return rows;
}

function toSheet(file: string, table: string[][]): Sheet {
  if (table.length === 0) throw new MdmtError('EDATA', 'readSheet', `${file}: sheet is empty (no header row)`);
  const header = table[0].map((h) => h.replace(/^\uFEFF/, '').trim());
  const rows = table.slice(1).map((r, i) => {
    const cells: Record<string, string> = {};
    header.forEach((h, j) => (cells[h] = (r[j] ?? '').trim()));
    return { line: i + 2, cells, empty: r.every((c) => c.trim() === '') };
  });
  return { file, header, rows: rows.filter((r) => !r.empty).map(({ line, cells }) => ({ line, cells })) };
}

/**
 * Reads a CSV file (separator `sep`).
 *
 *   const s = readCsv('BRIXIA/metadata_global_v2.csv', ';');
 */
export function readCsv(file: string, sep = ','): Sheet {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MdmtError('EIO', 'readSheet', `${file}: cannot read sheet (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  return toSheet(file, parseCsv(text, sep));
}

function cellText(v: ExcelJS.CellValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') {
    if (v instanceof Date) return v.toISOString();
    const o = v as { result?: unknown; text?: unknown; richText?: { text: string }[] };
    if (o.richText) return o.richText.map((t) => t.text).join('');
    if (o.result !== undefined) return String(o.result);
    if (o.text !== undefined) return String(o.text);
    return '';
  }
  return String(v);
}

/**
 * Reads the first worksheet (or the named one) of an .xlsx file.
 *
 *   const s = await readXlsx('AIforCOVID/AIforCOVID.xlsx');
 */
export async function readXlsx(file: string, worksheet?: string): Promise<Sheet> {
  if (!fs.existsSync(file)) throw new MdmtError('EIO', 'readSheet', `${file}: sheet file not found`);
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.readFile(file);
  } catch (e) {
    throw new MdmtError('EDATA', 'readSheet', `${file}: unreadable .xlsx (${(e as Error).message})`);
  }
  const ws = worksheet ? wb.getWorksheet(worksheet) : wb.worksheets[0];
  if (!ws) throw new MdmtError('EDATA', 'readSheet', `${file}: no worksheet${worksheet ? ` '${worksheet}'` : ''}`);
  const table: string[][] = [];
  const width = ws.columnCount;
  ws.eachRow({ includeEmpty: true }, (row, n) => {
    const r: string[] = [];
    for (let c = 1; c <= width; c++) r.push(cellText(row.getCell(c).value));
    table[n - 1] = r;
  });
  for (let i = 0; i < table.length; i++) table[i] ??= [];
  return toSheet(file, table);
}

/** Reads .csv (separator guessed from the header: ';' or ',') or .xlsx by extension. */
export async function readSheet(file: string, sep?: string): Promise<Sheet> {
  if (/\.xlsx$/i.test(file)) return readXlsx(file);
  if (!sep) {
    let head = '';
    try {
      head = fs.readFileSync(file, 'utf8').split(/\r?\n/, 1)[0];
    } catch {
      /* readCsv reports it */
    }
    sep = head.includes(';') ? ';' : ',';
  }
  return readCsv(file, sep);
}

/** Throws unless the sheet has every column in `cols`. */
export function requireColumns(sheet: Sheet, cols: string[]): void {
  for (const c of cols)
    if (!sheet.header.includes(c))
      throw new MdmtError('EDATA', 'readSheet', `${sheet.file}: missing column '${c}' (has: ${sheet.header.join(', ')})`);
}
