/**
 * Sheets as users' tools save them, beyond issue 16's malformed quotes: lines of spaces,
 * UTF-16 and Latin-1 exports, the wrong separator, numbers Number() would read but a
 * spreadsheet never writes. Each is read correctly or refused naming the file (and line).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { intCell, readAIforCOVID, readBrixia, readCovidCxr } from '../../ts/data/readers';
import { formatSummary } from '../../ts/data/records';
import { readCsv } from '../../ts/data/sheets';
import { MdmtError } from '../../ts/errors';
import { rejects, tmpDir, writeXlsx } from './_fixture';

const HEAD = 'Filename;BrixiaScore;BrixiaScoreGlobal;Manufacturer';
const ROWS = ['a.dcm;000123;6;SIEMENS', 'b.dcm;333333;18;AGFA', 'c.dcm;000000;0;KODAK'];

function bx(text: string | Buffer): { dir: string; file: string } {
  const dir = tmpDir('hsheet');
  const file = path.join(dir, 'metadata_global_v2.csv');
  fs.writeFileSync(file, text);
  return { dir, file };
}

async function refused(text: string | Buffer, re: RegExp): Promise<void> {
  const { dir, file } = bx(text);
  const e = await rejects(() => readBrixia(dir, { checkFiles: false }));
  assert.instance(e, MdmtError, String(e));
  assert.is(e.code, 'EDATA');
  assert.ok(e.message.includes(file), `names the file: ${e.message}`);
  assert.match(e.message, re, e.message);
}

test('a line of spaces or tabs is blank, as an empty line is (it was a one-field row with the wrong line number)', async () => {
  const { dir } = bx([HEAD, ROWS[0], '   ', '\t', ROWS[1], ' \t ', ROWS[2], ''].join('\r\n'));
  const d = await readBrixia(dir, { checkFiles: false });
  assert.equal(d.records.map((r) => [r.id, r.global]), [['a', 6], ['b', 18], ['c', 0]]);
  assert.equal(d.records.map((r) => r.where.replace(/.* row /, '')), ['2', '5', '7']);
  // a real short row after blank lines is still named by its own line
  await refused([HEAD, ROWS[0], '   ', 'short', ''].join('\n'), /line 4, column 1 'Filename': the row has another number of fields/);
});

test('UTF-16 and Latin-1 files are refused, naming the encoding and the line', async () => {
  const text = [HEAD, ...ROWS].join('\n') + '\n';
  await refused(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), /UTF-16 encoded; save it as UTF-8/);
  await refused(Buffer.from([HEAD, ROWS[0], 'd.dcm;000000;0;SIEMENS\u00e9'].join('\n'), 'latin1'), /line 3: not valid UTF-8/);
  // UTF-8 with accents and a BOM is fine
  const ok = bx('\uFEFF' + [HEAD, 'é.dcm;000000;0;SIEMENS'].join('\n'));
  assert.is((await readBrixia(ok.dir, { checkFiles: false })).records[0]!.id, 'é');
});

test('a sheet split on the wrong separator says so', async () => {
  await refused([HEAD, ...ROWS].map((l) => l.replace(/;/g, ',')).join('\n'), /missing column 'Filename' .*the header is one column: is the file separated by ',' instead\?/);
  const f = path.join(tmpDir('hsheet'), 'labels.csv');
  fs.writeFileSync(f, 'file;source_url;went_icu;brixia_global_senior\nx.png;http://a;Y;3\n');
  const e = await rejects(() => readCovidCxr(path.dirname(f), { checkFiles: false }));
  assert.match(e.message, /is the file separated by ';' instead\?/);
  assert.equal(readCsv(f, ';').header, ['file', 'source_url', 'went_icu', 'brixia_global_senior']);
});

test('a sheet on the wrong separator with quoted fields says so too (it failed on the first quote, naming the whole header as a column)', async () => {
  // Excel's comma re-save of metadata_global_v2.csv quotes fields; a header that is itself quoted fails on line 1
  await refused([HEAD, ...ROWS].map((l) => l.replace(/;/g, ',').replace('SIEMENS', '"SIEMENS, Erlangen"')).join('\n'), /the header is one column when split on ';': is the file separated by ',' instead\? \(line 2: a quote appears inside an unquoted field\)/);
  await refused([HEAD, ...ROWS].map((l) => `"${l.replace(/;/g, '","')}"`).join('\n'), /is the file separated by ',' instead\? \(line 1: text follows the closing quote/);
  const d = tmpDir('hsheet');
  fs.writeFileSync(path.join(d, 'labels.csv'), 'file\tsource_url\twent_icu\tbrixia_global_senior\nx.png\t"http://a"\tY\t3\n');
  const e = await rejects(() => readCovidCxr(d, { checkFiles: false }));
  assert.match(e.message, /labels\.csv: the header is one column when split on ',': is the file separated by '\\t' instead\?/);
});

test("a sheet's Windows paths (images\\a.png) are refused with the path that exists named: here a backslash is part of a file name", async () => {
  const d = tmpDir('hsheet-win');
  fs.mkdirSync(path.join(d, 'images'));
  fs.writeFileSync(path.join(d, 'images', 'a.png'), 'x');
  fs.writeFileSync(path.join(d, 'labels.csv'), 'file,source_url,went_icu,brixia_global_senior\nimages\\a.png,http://a,Y,3\n');
  const e = await rejects(() => readCovidCxr(d));
  assert.is(e.code, 'EIO');
  assert.ok(e.message.includes(`row 2: image not found: ${path.join(d, 'images\\a.png')}; ${path.join(d, 'images', 'a.png')} exists: write the sheet's paths with '/'`), e.message);
  // a file that is missing either way: no hint
  fs.writeFileSync(path.join(d, 'labels.csv'), 'file,source_url,went_icu,brixia_global_senior\nimages\\b.png,http://a,Y,3\n');
  assert.not.match((await rejects(() => readCovidCxr(d))).message, 'exists');
});

test('a required column spelt in another case is named as such (it was only "missing column")', async () => {
  await refused(['filename;BrixiaScore;BrixiaScoreGlobal;Manufacturer', ...ROWS].join('\n'), /missing column 'Filename' \(has: filename, .*\); 'filename' differs only in case \(column names are matched exactly\): rename it 'Filename'/);
  const d = tmpDir('hsheet-case');
  fs.writeFileSync(path.join(d, 'labels.csv'), 'File,source_url,Went_ICU,brixia_global_senior\nx.png,http://a,Y,3\n');
  assert.match((await rejects(() => readCovidCxr(d, { checkFiles: false }))).message, "missing column 'file' (has: File, source_url, Went_ICU, brixia_global_senior); 'File' differs only in case");
});

test('integer cells: digits (and a spreadsheet .0) only, not hex, exponents or Infinity', async () => {
  assert.equal(['12', ' 7 ', '12.0', '+3', '-1'].map(intCell), [12, 7, 12, 3, -1]);
  for (const s of ['0xC', '1.2e1', 'Infinity', '', '1.5', '12a', '0b11']) assert.ok(Number.isNaN(intCell(s)), s);
  await refused([HEAD, 'a.dcm;000123;0x6;SIEMENS'].join('\n'), /column 'BrixiaScoreGlobal' is '0x6' \(expected an integer 0\.\.18\)/);
  const d = tmpDir('hsheet');
  fs.writeFileSync(path.join(d, 'labels.csv'), 'file,source_url,went_icu,brixia_global_senior\nx.png,http://a,Y,1e1\n');
  const e = await rejects(() => readCovidCxr(d, { checkFiles: false }));
  assert.match(e.message, /column 'brixia_global_senior' is '1e1' \(expected an integer 0\.\.18\)/);
});

test('an .xlsx with a stray cell far right (XFD1) or far down (C1048576) reads in a 96 MB heap (every row and column up to it was made: out of heap)', async () => {
  const ExcelJS = (await import('exceljs')).default;
  const dir = tmpDir('stray');
  const script = `require(${JSON.stringify(require.resolve('../../ts/data/sheets'))}).readXlsx(process.argv[1]).then((s) => console.log([s.header.length, s.rows.length, s.blank].join(" ")))`;
  for (const [stray, value, want] of [['XFD1', 'note', '16384 300 0'], ['C1048576', ' ', `3 300 ${1048576 - 301}`]]) {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('s');
    ws.addRow(['ImageFile', 'Hospital', 'Prognosis']);
    for (let i = 1; i <= 300; i++) ws.addRow([`P_${i}`, 'A', 'MILD']);
    ws.getCell(stray).value = value;
    const file = path.join(dir, `${stray}.xlsx`);
    await wb.xlsx.writeFile(file);
    const r = spawnSync(process.execPath, ['--max-old-space-size=96', '-e', script, file], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.stdout.trim(), want, `${stray}: exit ${r.status}, stderr ${r.stderr.slice(-300)}`);
  }
});

const AFC_HEAD = ['ImageFile', 'Hospital', 'Prognosis'];

test('a hidden first worksheet is passed over for the first visible one, and the summary says so', async () => {
  const root = tmpDir('hidden');
  const data = { name: 'data', rows: [AFC_HEAD, ['P_1', 'A', 'MILD'], ['P_2', 'B', 'SEVERE'], ['P_3', 'A', 'MILD']] };
  const old = { name: 'old', state: 'hidden' as const, rows: [AFC_HEAD, ['P_1', 'Z', 'SEVERE']] };
  const file = await writeXlsx(path.join(root, 'AIforCOVID.xlsx'), [old, { ...old, name: 'older', state: 'veryHidden' }, data]);
  const d = await readAIforCOVID(root, { releases: [1], checkFiles: false });
  assert.equal(d.records.map((r) => [r.id, r.center, r.labelName]), [['P_1', 'A', 'MILD'], ['P_2', 'B', 'SEVERE'], ['P_3', 'A', 'MILD']]);
  assert.equal(d.summary.notes, [`${file}: read worksheet 'data', the first visible one; hidden worksheets 'old', 'older' skipped`]);
  assert.match(formatSummary(d.summary), /3 records kept; nothing dropped; .*hidden worksheets 'old', 'older' skipped$/);
  // no note when the first worksheet is the visible one
  await writeXlsx(file, [data, old]);
  assert.is((await readAIforCOVID(root, { releases: [1], checkFiles: false })).summary.notes, undefined);
  await writeXlsx(file, [old]);
  const e = await rejects(() => readAIforCOVID(root, { releases: [1], checkFiles: false }));
  assert.is(e.code, 'EDATA');
  assert.ok(e.message.includes(`${file}: every worksheet is hidden ('old'); unhide the one that holds the data`), e.message);
});

test('.xlsx formulas without a cached value and error values are named as such, not as empty cells', async () => {
  const root = tmpDir('formula');
  const uncomputed = { formula: '"MILD"' };
  const rows = [AFC_HEAD, ['P_1', 'A', 'MILD'], ['P_2', 'B', uncomputed], ['P_3', { formula: 'NA()', result: { error: '#N/A' as const } }, 'SEVERE'], ['P_4', { error: '#REF!' as const }, 'MILD']];
  const file = await writeXlsx(path.join(root, 'AIforCOVID.xlsx'), [...rows, ['', { error: '#N/A' as const }, uncomputed]]);
  const e = await rejects(() => readAIforCOVID(root, { releases: [1], checkFiles: false }));
  assert.is(e.code, 'EDATA');
  assert.ok(e.message.includes(`${file} row 3: column 'Prognosis' is a formula without a cached value (open and save the file in Excel/LibreOffice to compute it)`), e.message);
  const d = await readAIforCOVID(root, { releases: [1], checkFiles: false, onBadRecord: 'skip' });
  assert.equal(d.records.map((r) => r.id), ['P_1']);
  // the last row holds nothing but an error value and an uncomputed formula: blank, as before
  assert.equal(d.skipped.map((b) => b.error.replace(/.* row /, 'row ')), [
    "row 3: column 'Prognosis' is a formula without a cached value (open and save the file in Excel/LibreOffice to compute it)",
    "row 4: column 'Hospital' is an error value #N/A",
    "row 5: column 'Hospital' is an error value #REF!",
  ]);
  // a box sheet too
  await writeXlsx(file, rows.slice(0, 2));
  const box = await writeXlsx(path.join(root, 'box_data_AXF123.xlsx'), [['img', 'all'], ['P_1', { formula: 'A1' }]]);
  const e2 = await rejects(() => readAIforCOVID(root, { releases: [1], checkFiles: false }));
  assert.ok(e2.message.includes(`${box} row 2: column 'all' is a formula without a cached value`), e2.message);
});

test('.xlsx date cells in the columns read are named as dates, not read as an ISO timestamp (a hospital became the centre 2020-03-05T00:00:00.000Z)', async () => {
  const root = tmpDir('xdate');
  const file = await writeXlsx(path.join(root, 'AIforCOVID.xlsx'), [[...AFC_HEAD, 'Admission'], ['P_1', 'A', 'MILD', new Date(Date.UTC(2020, 2, 4))], ['P_2', new Date(Date.UTC(2020, 2, 5)), 'SEVERE'], ['P_3', 'A', { formula: 'TODAY()', result: new Date(Date.UTC(2020, 2, 6, 12)) }]]);
  const e = await rejects(() => readAIforCOVID(root, { releases: [1], checkFiles: false }));
  assert.is(e.code, 'EDATA');
  assert.ok(e.message.includes(`${file} row 3: column 'Hospital' is a date (2020-03-05): the spreadsheet read what was typed there as a date; format the column as Text`), e.message);
  // a date in a column no reader takes (an admission date) is no problem; a formula's date result is a date too
  const d = await readAIforCOVID(root, { releases: [1], checkFiles: false, onBadRecord: 'skip' });
  assert.equal(d.records.map((r) => [r.id, r.center]), [['P_1', 'A']]);
  assert.match(d.skipped[1].error, /row 4: column 'Prognosis' is a date \(2020-03-06T12:00:00\.000Z\)/);
});

test("covid-cxr --skip-bad: a skipped row counts once, as skipped, whichever of its cells is bad (one with a blank went_icu was also counted 'without a went_icu value')", async () => {
  const d = tmpDir('hsheet-skip');
  fs.writeFileSync(path.join(d, 'labels.csv'), [
    'file,source_url,went_icu,brixia_global_senior',
    'a.png,http://a,Y,3', // τ1 + τ2
    'b.png,http://a,,7.5', // bad score, blank went_icu
    'c.png,http://a,Yes,', // bad went_icu, blank score
    'd.png,http://a,,', // no label: dropped twice, once per task
  ].join('\n'));
  const ds = await readCovidCxr(d, { checkFiles: false, onBadRecord: 'skip' });
  assert.is(ds.records.length, 2);
  assert.equal(ds.skipped.map((b) => b.where.replace(/.* row /, '')), ['3', '4']);
  assert.is(formatSummary(ds.summary), `covid-cxr ${path.join(d, 'labels.csv')}: 4 rows, 2 records kept; dropped: 1 rows without a went_icu value (no τ1 record), 1 rows without a brixia_global_senior value (no τ2 record), 2 bad rows skipped (onBadRecord 'skip')`);
  // a row labelling both tasks gives two records: more kept than rows, said so
  assert.match(formatSummary({ ...ds.summary, rows: 2, kept: 3 }), ': 2 rows, 3 records kept (a row labels one record per task); dropped:');
});

test('covid-cxr: a file given as an absolute path is read from that path (it was joined under the folder: image not found at <dir>/<abs path>)', async () => {
  const d = tmpDir('hsheet-abs');
  const img = path.join(tmpDir('hsheet-abs-img'), 'x.png');
  fs.writeFileSync(img, 'not read here');
  fs.mkdirSync(path.join(d, 'images'));
  fs.writeFileSync(path.join(d, 'images', 'y.png'), 'not read here');
  fs.writeFileSync(path.join(d, 'labels.csv'), `file,source_url,went_icu,brixia_global_senior\n${img},http://a,Y,3\nimages/y.png,http://a,N,\n`);
  const ds = await readCovidCxr(d);
  assert.equal(ds.records.map((r) => r.image), [img, img, path.join(d, 'images', 'y.png')]);
});

test.run();
