/**
 * Issue 16, class 2: sheets are parsed strictly (a malformed row is an error naming the file,
 * line and column), duplicate image rows are refused, and every reader says how many rows it
 * read, kept and dropped, and why. Fixtures are CSVs written by the test and the synthetic
 * data set.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAIforCOVID, readBrixia, readCovidCxr } from '../../ts/data/readers';
import { DataRecord, formatSummary } from '../../ts/data/records';
import { readFold } from '../../ts/data/splits';
import { parseCsv, readCsv } from '../../ts/data/sheets';
import { MdmtError } from '../../ts/errors';
import { loadRecords } from '../../ts/train/data';
import { rejects, synthFixture, tmpDir, writeXlsx } from './_fixture';

const HEAD = 'Filename;BrixiaScore;BrixiaScoreGlobal;Manufacturer';
/** n BRIXIA rows with valid scores (images are not checked). */
const bxRows = (n: number) => Array.from({ length: n }, (_, i) => `img${i}.dcm;${String(i % 4).repeat(6)};${6 * (i % 4)};SIEMENS`);

function bxDir(lines: string[]): string {
  const d = tmpDir('sheet');
  fs.writeFileSync(path.join(d, 'metadata_global_v2.csv'), lines.join('\n') + '\n');
  return d;
}

test('an unclosed quote is an error naming file, line and column, not 4 of 186 records kept', async () => {
  const rows = bxRows(185);
  rows[3] = rows[3].replace('SIEMENS', '"SIEMENS'); // data line 5 of the file
  const d = bxDir([HEAD, ...rows]);
  const e = await rejects(() => readBrixia(d, { checkFiles: false }));
  assert.instance(e, MdmtError);
  assert.is(e.code, 'EDATA');
  const f = path.join(d, 'metadata_global_v2.csv');
  assert.ok(e.message.includes(`${f} line 5, column 4 'Manufacturer'`), e.message);
  assert.match(e.message, /never closed/);
  // the same rows without the quote: all 185 kept
  const ok = await readBrixia(bxDir([HEAD, ...bxRows(185)]), { checkFiles: false });
  assert.is(ok.records.length, 185);
  assert.equal(ok.summary.dropped, []);
});

test('other malformed rows: extra or missing fields, a stray quote, text after a closing quote, a repeated header', () => {
  const cases: [string, RegExp][] = [
    ['a,b\n1,2\n3,4,5\n', /line 3, column 3: the row has another number of fields than the header \(3 fields, the header has 2\)/],
    ['a,b\n1,2\n\n\n3\n', /line 5, column 1 'a': the row has another number of fields than the header \(1 field, the header has 2\)/],
    ['a,b\n1,x"y\n', /line 2, column 2 'b': a quote appears inside an unquoted field/],
    ['a,b\n1,"x"y\n', /line 2, column 2 'b': text follows the closing quote/],
    ['a,b\n"multi\nline",2\n3,"open\n', /line 4, column 2 'b': a quoted field opens here and is never closed/],
    ['a,b,a\n1,2,3\n', /line 1: column 'a' appears twice \(columns 1 and 3\)/],
  ];
  const d = tmpDir('csv');
  for (const [i, [text, re]] of cases.entries()) {
    const f = path.join(d, `c${i}.csv`);
    fs.writeFileSync(f, text);
    assert.throws(() => readCsv(f), (e: Error) => e instanceof MdmtError && e.message.includes(f) && re.test(e.message), `${JSON.stringify(text)}`);
  }
  // what stays legal: quoted separators, doubled quotes, CRLF, a BOM, blank lines, multi-line fields
  assert.equal(parseCsv('\uFEFFa;b\r\n"x;y";"he said ""hi"""\r\n\r\n"l1\nl2";\n', ';'), [['a', 'b'], ['x;y', 'he said "hi"'], ['l1\nl2', '']]);
  const f = path.join(d, 'ok.csv');
  fs.writeFileSync(f, 'a,b\n"l1\nl2",1\n\n3,4\n');
  assert.equal(readCsv(f).rows.map((r) => r.line), [2, 5], 'rows are numbered by the line they start on');
});

test('duplicate image rows are refused: BRIXIA Filename (with or without .dcm), covid-cxr file', async () => {
  const rows = bxRows(6);
  rows.push(rows[2].replace('img2.dcm', 'img2'));
  const e = await rejects(() => readBrixia(bxDir([HEAD, ...rows]), { checkFiles: false }));
  assert.match(e.message, /metadata_global_v2\.csv row 8: Filename 'img2' appears twice \(first on row 4\)/);
  const skip = await readBrixia(bxDir([HEAD, ...rows]), { checkFiles: false, onBadRecord: 'skip' });
  assert.is(skip.records.length, 6);
  assert.equal(skip.summary.dropped, [{ reason: "bad rows skipped (onBadRecord 'skip')", count: 1 }]);
  const d = tmpDir('cxr');
  fs.writeFileSync(path.join(d, 'labels.csv'), 'file,source_url,went_icu,brixia_global_senior\na.png,http://x.org/1,Y,\nb.png,http://x.org/2,N,7\na.png,http://x.org/3,N,\n');
  const e2 = await rejects(() => readCovidCxr(d, { checkFiles: false }));
  assert.match(e2.message, /labels\.csv row 4: file 'a\.png' appears twice \(first on row 2\)/);
  // the same image under another spelling of its path
  for (const alias of ['./a.png', 'x/../a.png']) {
    fs.writeFileSync(path.join(d, 'labels.csv'), `file,source_url,went_icu,brixia_global_senior\na.png,http://x.org/1,Y,\n${alias},http://x.org/3,N,\n`);
    const e3 = await rejects(() => readCovidCxr(d, { checkFiles: false }));
    assert.match(e3.message, new RegExp(`labels\\.csv row 3: file '${alias.replace(/\./g, '\\.')}' appears twice \\(first on row 2\\)`));
  }
  // two images with one id (file name without folder and extension) would be one record in the split files
  for (const other of ['other/a.png', 'a.jpg']) {
    fs.writeFileSync(path.join(d, 'labels.csv'), `file,source_url,went_icu,brixia_global_senior\nimages/a.png,http://x.org/1,Y,11\n${other},http://x.org/3,N,2\n`);
    const e4 = await rejects(() => readCovidCxr(d, { checkFiles: false }));
    assert.is(e4.code, 'EDATA');
    assert.match(e4.message, new RegExp(`labels\\.csv row 3: file '${other.replace(/\./g, '\\.')}' has the id 'a' of row 2's 'images/a\\.png'`));
    const skip = await readCovidCxr(d, { checkFiles: false, onBadRecord: 'skip' });
    assert.equal(skip.records.map((r) => [r.id, r.task, r.label]), [['a', 'AFC', 1], ['a', 'BX', 2]]);
  }
});

test('duplicate rows of a box sheet are refused naming both rows (the last box won silently)', async () => {
  const root = tmpDir('boxdup');
  await writeXlsx(path.join(root, 'AIforCOVID.xlsx'), [['ImageFile', 'Hospital', 'Prognosis'], ['P_1', 'A', 'MILD'], ['P_2', 'B', 'SEVERE']]);
  const boxes = [['img', 'all'], ['P_1', '[9, 7, 44, 45]'], ['P_2.dcm', '[1, 2, 30, 40]'], ['P_1.dcm', '[0, 0, 10, 10]']];
  const box = await writeXlsx(path.join(root, 'box_data_AXF123.xlsx'), boxes);
  const e = await rejects(() => readAIforCOVID(root, { releases: [1], checkFiles: false }));
  assert.is(e.code, 'EDATA');
  assert.ok(e.message.includes(`${box} row 4: img 'P_1.dcm' appears twice (first on row 2)`), e.message);
  // skip mode keeps the first
  const skip = await readAIforCOVID(root, { releases: [1], checkFiles: false, onBadRecord: 'skip' });
  assert.equal(skip.records.map((r) => r.box), [[7, 9, 38, 35], [2, 1, 38, 29]]);
  assert.is(skip.skipped.length, 1);
  await writeXlsx(box, boxes.slice(0, 3));
  assert.equal((await readAIforCOVID(root, { releases: [1], checkFiles: false })).records.map((r) => r.box), [[7, 9, 38, 35], [2, 1, 38, 29]]);
});

test('split files: records that share an id are refused, not merged', () => {
  const d = tmpDir('fold-ids');
  for (const p of ['train', 'val', 'test']) fs.writeFileSync(path.join(d, `${p}.txt`), 'img label center\n');
  const rec = (id: string, image: string): DataRecord => ({ id, image, task: 'BX', label: 0, labelName: '0', source: 'covid-cxr', center: 'c', where: 'w' });
  assert.throws(() => readFold(d, [rec('a b', '/x/a b.png'), rec('a_b', '/y/a_b.png')]), /readFold: records '\/x\/a b\.png' and '\/y\/a_b\.png' share the split-file id 'a_b'/);
  assert.is(readFold(d, [rec('a', '/x/a.png'), rec('b', '/y/b.png')]).train.length, 0);
});

test('every reader reports rows read, records kept and rows dropped with the reason', async () => {
  const { afcRoot, bxRoot } = await synthFixture();
  const afc = await readAIforCOVID(afcRoot, { exclude: ['P_1_1', 'P_1_2', 'nobody'] });
  assert.is(afc.summary.rows, afc.records.length + 2);
  assert.equal(afc.summary.dropped, [{ reason: "excluded (the authors' list, AfcOptions.exclude)", count: 2 }]);
  assert.match(formatSummary(afc.summary), new RegExp(`AIforCOVID .*: ${afc.summary.rows} rows, ${afc.records.length} records kept; dropped: 2 excluded`));
  const bx = await readBrixia(bxRoot);
  assert.equal([bx.summary.rows, bx.summary.kept, bx.summary.dropped.length], [bx.records.length, bx.records.length, 0]);
  assert.match(formatSummary(bx.summary), /nothing dropped$/);
  const d = tmpDir('cxr2');
  fs.writeFileSync(path.join(d, 'labels.csv'), 'file,source_url,went_icu,brixia_global_senior\na.png,u,Y,\nb.png,u,,3\nc.png,u,,\n');
  const cxr = await readCovidCxr(d, { checkFiles: false });
  assert.is(cxr.records.length, 2);
  assert.equal(cxr.summary.dropped, [
    { reason: 'rows without a brixia_global_senior value (no τ2 record)', count: 2 },
    { reason: 'rows without a went_icu value (no τ1 record)', count: 2 },
  ]);
  const logged: string[] = [];
  await loadRecords({ afc: afcRoot, bx: bxRoot }, { afc: true, bx: true }, (m) => logged.push(m));
  assert.is(logged.length, 2);
  assert.match(logged[0], /^AIforCOVID .* records kept/);
  assert.match(logged[1], /^BRIXIA .*metadata_global_v2\.csv: \d+ rows/);
});

test.run();
