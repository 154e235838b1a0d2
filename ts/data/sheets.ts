/**
 * Sheet input for the readers: `.csv` (any separator, RFC 4180 quotes, parsed strictly by
 * csv-parse) and `.xlsx` (exceljs),
 * both as a header plus rows of trimmed strings, with errors that name the file, the row
 * (1-based, as a spreadsheet shows it) and the column.
 */
import * as fs from 'fs';
import { parse, type Options as CsvOptions } from 'csv-parse/sync';
import type * as ExcelJS from 'exceljs';
import { MdmtError } from '../errors';

/**
 * exceljs, loaded on first use: it takes about half a second to load (more than the rest of the
 * CLI together), and only .xlsx sheets need it, so `mdmt --help`, `report`, `predict` and
 * a library import of a csv-only user never pay for it.
 */
export async function loadExcel(): Promise<typeof ExcelJS> {
  return (await import('exceljs')).default;
}

/** A data row: its cells by column name; `line` is the spreadsheet row number (header = 1). */
export interface SheetRow {
  line: number;
  cells: Record<string, string>;
  /** .xlsx cells that hold an error value or a formula without a cached value (their text is ''), by column name: what they hold (see cellOf) */
  bad?: Record<string, string>;
}

export interface Sheet {
  file: string;
  header: string[];
  /** data rows */
  rows: SheetRow[];
  /** blank rows left out */
  blank: number;
  /** how the sheet was read, for the reader's summary: hidden worksheets passed over */
  note?: string;
}

/** One row of a sheet: its cells by column and the line (CSV) or row (xlsx) it starts on. */
interface TableRow {
  line: number;
  /** by column (an xlsx row leaves holes for its missing cells) */
  cells: string[];
  /** whether the row holds no text, when that is known without looking at `cells` (an xlsx row with text only right of the header) */
  blank?: boolean;
  /** by column: what a cell whose text is '' holds instead (an error value, a formula without a cached value) */
  bad?: Record<number, string>;
}

const QUOTE_REASON: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field opens here and is never closed (every later row would be swallowed into it)',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted field',
  CSV_INVALID_CLOSING_QUOTE: 'text follows the closing quote of a field',
  CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: 'the row has another number of fields than the header',
};

/**
 * Parses CSV text strictly with csv-parse (RFC 4180 quotes, BOM dropped, blank lines
 * skipped): a broken quote or a row whose field count differs from the header's is an
 * EDATA MdmtError naming the file, the line the row starts on, and the column. We keep no
 * hand-written parser: a lenient one silently merged an unclosed quote's rows into one field.
 *
 *   parseCsv('a;b\n1;2\n', ';')   // [['a', 'b'], ['1', '2']]
 */
export function parseCsv(text: string, sep = ',', file = '<csv>'): string[][] {
  return parseCsvRows(text, sep, file).map((r) => r.cells);
}

function parseCsvRows(text: string, sep: string, file: string): TableRow[] {
  const rows: TableRow[] = [];
  let lastLine = 0;
  // csv-parse counts a CRLF inside a quoted cell as two lines (CR, then LF): the lines it
  // reports from there on are that many too far, so they are taken off
  let extra = 0;
  try {
    // on_record sees each good row as it is parsed, so after an error we know where the bad row starts
    parse(text, {
      // ltrim/rtrim: a line of spaces or tabs is blank (skipped), not a one-field row; cells are trimmed anyway
      delimiter: sep, record_delimiter: ['\r\n', '\n', '\r'], bom: true, skip_empty_lines: true, ltrim: true, rtrim: true, info: true, raw: true,
      on_record: (r: { record: string[]; raw: string; info: { lines: number } }) => {
        // info.lines is the line the record ends on; step back over its embedded line breaks
        const body = r.raw.replace(/^(\r?\n)+/, '').replace(/\r?\n$/, '');
        extra += body.match(/\r\n/g)?.length ?? 0;
        rows.push({ line: r.info.lines - extra - (body.match(/\n/g)?.length ?? 0), cells: r.record });
        lastLine = r.info.lines - extra;
        return null;
      },
    } as unknown as CsvOptions);
  } catch (e) {
    const err = e as { code?: string; message?: string; column?: number; lines?: number; record?: string[] };
    if (!err.code || !QUOTE_REASON[err.code]) throw new MdmtError('EDATA', 'readSheet', `${file}: not a readable CSV file (${err.message})`);
    // the failing row starts on the first non-blank line after the last good row
    const lines = text.split('\n');
    let at = lastLine;
    if (err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH') at = (err.lines ?? at + 1 + extra) - 1 - extra;
    while (at < lines.length && lines[at].trim() === '') at++;
    const header = rows[0]?.cells ?? [];
    // a header read as one column holding another separator (or, failing itself, a first line
    // without `sep`): the file is split on the wrong character, and its first quoted field fails
    // to parse, which named the whole header as the column
    const first = lines.find((l) => l.trim() !== '') ?? '';
    const other = wrongSeparator(rows.length ? header : first.includes(sep) ? [] : [first]);
    if (other) throw new MdmtError('EDATA', 'readSheet', `${file}: the header is one column when split on '${show(sep)}': is the file separated by '${show(other)}' instead? (line ${at + 1}: ${QUOTE_REASON[err.code]})`);
    const col = err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' ? Math.min(err.record?.length ?? 0, header.length + 1) : (err.column ?? 0) + 1;
    const name = header[col - 1] !== undefined ? ` '${header[col - 1].replace(/^\uFEFF/, '').trim()}'` : '';
    const got = err.record?.length ?? 0;
    const counts = err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' ? ` (${got} field${got === 1 ? '' : 's'}, the header has ${header.length})` : '';
    throw new MdmtError('EDATA', 'readSheet', `${file} line ${at + 1}, column ${col}${name}: ${QUOTE_REASON[err.code]}${counts} [csv-parse: ${err.message}]`);
  }
  return rows;
}

/** How a separator is written in messages (a tab as \t). */
const show = (sep: string) => (sep === '\t' ? '\\t' : sep);

/** The separator a one-column header holds instead of the one it was split on, if any. */
function wrongSeparator(header: string[]): string | undefined {
  return header.length === 1 ? [';', ',', '\t'].find((x) => header[0].includes(x)) : undefined;
}

function toSheet(file: string, table: TableRow[]): Sheet {
  if (table.length === 0) throw new MdmtError('EDATA', 'readSheet', `${file}: sheet is empty (no header row)`);
  const header = table[0].cells.map((h) => h.replace(/^\uFEFF/, '').trim());
  const dup = header.findIndex((h, j) => h !== '' && header.indexOf(h) !== j);
  if (dup >= 0)
    throw new MdmtError('EDATA', 'readSheet', `${file} line ${table[0].line}: column '${header[dup]}' appears twice (columns ${header.indexOf(header[dup]) + 1} and ${dup + 1}); which one holds the data is ambiguous`);
  // the named columns only: an xlsx header with one stray cell at XFD1 is 16,384 columns wide
  const named = header.flatMap((h, j) => (h === '' ? [] : [j]));
  const rows = table.slice(1).map((r) => {
    const row: SheetRow = { line: r.line, cells: {} };
    for (const j of named) {
      row.cells[header[j]] = (r.cells[j] ?? '').trim();
      if (r.bad?.[j]) (row.bad ??= {})[header[j]] = r.bad[j];
    }
    return { row, empty: r.blank ?? r.cells.every((c) => c.trim() === '') };
  });
  const kept = rows.filter((r) => !r.empty).map((r) => r.row);
  return { file, header, rows: kept, blank: rows.length - kept.length };
}

/**
 * Reads a CSV file (separator `sep`), strictly: see parseCsv.
 *
 *   const s = readCsv('BRIXIA/metadata_global_v2.csv', ';');
 */
export function readCsv(file: string, sep = ','): Sheet {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new MdmtError('EIO', 'readSheet', `${file}: cannot read sheet (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return toSheet(file, parseCsvRows(utf8Text(bytes, file), sep, file));
}

/**
 * The file as UTF-8 text, strictly: a UTF-16 file (Excel's "Unicode text") or a Latin-1 /
 * Windows-1252 export is an error naming the line, where a lenient decode would turn every
 * accented letter into U+FFFD (so 'Bégin' and 'Bègin' become one centre) or, for UTF-16,
 * into one garbled column.
 */
function utf8Text(bytes: Buffer, file: string): string {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)))
    throw new MdmtError('EDATA', 'readSheet', `${file}: the file is UTF-16 encoded; save it as UTF-8 (Excel: "CSV UTF-8")`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const text = bytes.toString('utf8');
    const line = text.slice(0, text.indexOf('\uFFFD')).split('\n').length;
    throw new MdmtError('EDATA', 'readSheet', `${file} line ${line}: not valid UTF-8 (a Latin-1 or Windows-1252 export?); save the sheet as UTF-8`);
  }
}

function cellText(v: ExcelJS.CellValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') {
    if (v instanceof Date) return v.toISOString();
    const o = v as { result?: unknown; text?: unknown; richText?: { text: string }[] };
    if (o.richText) return o.richText.map((t) => t.text).join('');
    // a formula's result and a hyperlink's text are cell values themselves (an error result is { error })
    if (o.result !== undefined) return cellText(o.result as ExcelJS.CellValue);
    if (o.text !== undefined) return cellText(o.text as ExcelJS.CellValue);
    return '';
  }
  return String(v);
}

/**
 * What an .xlsx cell holds where cellText finds no text: an error value (#N/A, also as a
 * formula's result) or a formula never computed (a file written by a script); or a date, which
 * no column the readers take holds (an id, centre, label or box Excel took for one: '3-5' typed
 * as a hospital became the centre '2020-03-05T00:00:00.000Z' without a word); else undefined.
 */
function cellProblem(v: ExcelJS.CellValue): string | undefined {
  if (v instanceof Date) return `a date (${v.toISOString().replace(/T00:00:00\.000Z$/, '')}): the spreadsheet read what was typed there as a date; format the column as Text and type the value again`;
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as { error?: string; formula?: unknown; sharedFormula?: unknown; result?: unknown };
  if (o.error !== undefined) return `an error value ${o.error}`;
  if (o.formula === undefined && o.sharedFormula === undefined) return undefined;
  if (o.result === undefined) return 'a formula without a cached value (open and save the file in Excel/LibreOffice to compute it)';
  return cellProblem(o.result as ExcelJS.CellValue);
}

/**
 * A row's cell by column name, or an EDATA saying what the cell holds when that is no text
 * (an error value, a formula without a cached value) rather than calling it empty.
 *
 *   const prog = cellOf(r, 'Prognosis', `${sheet.file} row ${r.line}`, 'readAIforCOVID');
 */
export function cellOf(row: SheetRow, col: string, where: string, op: string): string {
  const why = row.bad?.[col];
  if (why) throw new MdmtError('EDATA', op, `${where}: column '${col}' is ${why}`);
  return row.cells[col];
}

/**
 * Reads the first visible worksheet (or the named one) of an .xlsx file; hidden worksheets
 * before it are named in `note`, and a file whose worksheets are all hidden is an error.
 *
 *   const s = await readXlsx('AIforCOVID/AIforCOVID.xlsx');
 */
export async function readXlsx(file: string, worksheet?: string): Promise<Sheet> {
  if (!fs.existsSync(file)) throw new MdmtError('EIO', 'readSheet', `${file}: sheet file not found`);
  const wb = new (await loadExcel()).Workbook();
  try {
    await wb.xlsx.readFile(file);
  } catch (e) {
    throw new MdmtError('EDATA', 'readSheet', `${file}: unreadable .xlsx (${(e as Error).message})`);
  }
  // a hidden first worksheet (an old copy, a lookup table) is not the data the user sees
  const hidden = (w: ExcelJS.Worksheet) => w.state === 'hidden' || w.state === 'veryHidden';
  const first = wb.worksheets.findIndex((w) => !hidden(w));
  const names = (ws: ExcelJS.Worksheet[]) => ws.map((w) => `'${w.name}'`).join(', ');
  if (!worksheet && wb.worksheets.length && first < 0)
    throw new MdmtError('EDATA', 'readSheet', `${file}: every worksheet is hidden (${names(wb.worksheets)}); unhide the one that holds the data`);
  const ws = worksheet ? wb.getWorksheet(worksheet) : wb.worksheets[first];
  if (!ws) throw new MdmtError('EDATA', 'readSheet', `${file}: no worksheet${worksheet ? ` '${worksheet}'` : ''}`);
  const passed = worksheet ? [] : wb.worksheets.slice(0, first);
  // only the rows and cells the file holds, and of those only the header's columns: eachRow({
  // includeEmpty }) and getCell create every row and cell up to the farthest one, so a stray
  // cell at XFD1 or C1048576 made millions of them (the process ran out of heap)
  const table: TableRow[] = [];
  let width = 0;
  ws.eachRow((row, n) => {
    const cells: string[] = [];
    let text = false;
    let bad: Record<number, string> | undefined;
    // row.values: the row's cells by column number (1-based), a sparse array
    (row.values as ExcelJS.CellValue[]).forEach((v, c) => {
      const why = n > 1 && c <= width ? cellProblem(v) : undefined;
      if (why) (bad ??= {})[c - 1] = why;
      const s = cellText(v);
      if (s.trim() === '') return;
      text = true;
      if (n === 1) width = c; // the last non-empty header cell (forEach goes in column order)
      if (c <= width) cells[c - 1] = s;
    });
    if (n === 1) table.push({ line: 1, cells: Array.from(cells, (s) => s ?? '') });
    else if (text) table.push({ line: n, cells, blank: false, bad });
  });
  if (ws.rowCount > 0 && table[0]?.line !== 1) table.unshift({ line: 1, cells: [] });
  const sheet = toSheet(file, table);
  // rows without text are left out above: count them (up to the last row) without making them
  sheet.blank = ws.rowCount - 1 - sheet.rows.length;
  if (passed.length) sheet.note = `${file}: read worksheet '${ws.name}', the first visible one; hidden worksheet${passed.length > 1 ? 's' : ''} ${names(passed)} skipped`;
  return sheet;
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
  for (const c of cols) {
    if (sheet.header.includes(c)) continue;
    // one column whose name holds another separator: the file is split on the wrong character
    const other = wrongSeparator(sheet.header);
    // 'File' or 'went_ICU' for 'file' or 'went_icu': names are matched exactly
    const cased = sheet.header.find((h) => h.toLowerCase() === c.toLowerCase());
    const hint = other ? `; the header is one column: is the file separated by '${show(other)}' instead?`
      : cased ? `; '${cased}' differs only in case (column names are matched exactly): rename it '${c}'` : '';
    throw new MdmtError('EDATA', 'readSheet', `${sheet.file}: missing column '${c}' (has: ${sheet.header.join(', ')})${hint}`);
  }
}
