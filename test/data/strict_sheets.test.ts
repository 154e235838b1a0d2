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

test('a CRLF sheet with a CRLF line break inside a quoted cell numbers the rows after it by their lines (they were one line too far per such break)', async () => {
  const d = tmpDir('crlf');
  const f = path.join(d, 'metadata_global_v2.csv');
  // line 1 header, 2-3 a (its Manufacturer cell holds a line break), 4 b, 5 c (bad score)
  fs.writeFileSync(f, `${HEAD}\r\na.dcm;000000;0;"SIE\r\nMENS"\r\nb.dcm;111111;6;AGFA\r\nc.dcm;222222;x;KODAK\r\n`);
  assert.equal(readCsv(f, ';').rows.map((r) => r.line), [2, 4, 5]);
  const e = await rejects(() => readBrixia(d, { checkFiles: false, centres: 'raw' }));
  assert.ok(e.message.includes(`${f} row 5: column 'BrixiaScoreGlobal' is 'x'`), e.message);
  // a malformed row after such a cell is named by its own line too
  fs.writeFileSync(f, `${HEAD}\r\na.dcm;000000;0;"SIE\r\nMENS"\r\n\r\nb.dcm;111111;6;AGFA;extra\r\nc.dcm;1"1;2;AGFA\r\n`);
  assert.throws(() => readCsv(f, ';'), (err: Error) => /line 5, column 5: the row has another number of fields/.test(err.message), 'extra field');
  fs.writeFileSync(f, `${HEAD}\r\na.dcm;000000;0;"SIE\r\nMENS"\r\nb.dcm;1"1;2;AGFA\r\n`);
  assert.throws(() => readCsv(f, ';'), (err: Error) => /line 4, column 2 'BrixiaScore': a quote appears inside an unquoted field/.test(err.message), 'stray quote');
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

test('centre names spelt two ways are refused: one split-file token, or two LOCO centres differing only in case', async () => {
  const root = tmpDir('centres');
  const head = ['ImageFile', 'Hospital', 'Prognosis'];
  const r1 = path.join(root, 'AIforCOVID.xlsx');
  const read = (o = {}) => readAIforCOVID(root, { releases: [1, 2], checkFiles: false, ...o });
  const refused = async (rows: string[][], re: RegExp) => {
    await writeXlsx(r1, [head, ...rows]);
    const e = await rejects(() => read());
    assert.is(e.code, 'EDATA');
    assert.match(e.message, re, e.message);
  };
  await writeXlsx(path.join(root, 'AIforCOVID_r2.xlsx'), [head, ['P_2_1', 'Centro A', 'MILD']]);
  await refused([['P_1', 'Centro  A', 'MILD']], /AIforCOVID_r2\.xlsx row 2: column 'Hospital' is 'Centro A' but .*AIforCOVID\.xlsx row 2 has 'Centro {2}A': the split files write both as 'Centro_A', while leave-one-centre-out would hold them out as two centres; spell the centre one way/);
  await refused([['P_1', 'B', 'MILD'], ['P_2', 'centro a', 'SEVERE']], /AIforCOVID_r2\.xlsx row 2: column 'Hospital' is 'Centro A' but .*AIforCOVID\.xlsx row 3 has 'centro a': they differ only in case and would be separate centres \(two leave-one-centre-out folds\)/);
  // a no-break space is written as \u00a0 (it would print like a plain space)
  await refused([['P_1', 'centro\u00a0a', 'MILD']], /is 'Centro A' but .* has 'centro\\u00a0a': they differ only in case and spacing and would be separate centres/);
  // within one sheet the earlier row is named by its number alone; skip mode refuses it too: no
  // row is the bad one (keeping the first spelling, a typo in row 2 dropped the rest of its hospital)
  await writeXlsx(r1, [head, ['P_1', 'Centro A', 'MILD'], ['P_2', 'CENTRO A', 'MILD'], ['P_3', 'Centro A', 'SEVERE'], ['P_4', 'Centro_A', 'MILD']]);
  const e = await rejects(() => read());
  assert.match(e.message, /AIforCOVID\.xlsx row 3: column 'Hospital' is 'CENTRO A' but row 2 has 'Centro A'/);
  const skip = await rejects(() => read({ onBadRecord: 'skip' }));
  assert.is(skip.message, e.message);
  // BRIXIA: raw Manufacturer strings that share a split-file token are refused; case is kept as written there, and the groups merge it anyway
  const bx = ['img0.dcm;000000;0;Carestream Health', 'img1.dcm;000000;0;CARESTREAM HEALTH', 'img2.dcm;000000;0;Carestream  Health'];
  const raw = await rejects(() => readBrixia(bxDir([HEAD, ...bx]), { checkFiles: false, centres: 'raw' }));
  assert.match(raw.message, /metadata_global_v2\.csv row 4: column 'Manufacturer' is 'Carestream {2}Health' but row 2 has 'Carestream Health': the split files write both as 'Carestream_Health'/);
  assert.equal((await readBrixia(bxDir([HEAD, ...bx.slice(0, 2)]), { checkFiles: false, centres: 'raw' })).records.map((r) => r.center), ['Carestream Health', 'CARESTREAM HEALTH']);
  assert.equal((await readBrixia(bxDir([HEAD, ...bx.slice(0, 2)]), { checkFiles: false })).records.map((r) => r.center), ['CARESTREAM+VSM+DIGITEC', 'CARESTREAM+VSM+DIGITEC']);
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
  // each reader's line, then its task's records per class and per centre
  assert.is(logged.length, 4);
  assert.match(logged[0], /^AIforCOVID .* records kept/);
  assert.match(logged[1], /^ {2}τ1 prognosis: MILD \d+, SEVERE \d+; \d centres: A \d+/);
  assert.match(logged[2], /^BRIXIA .*metadata_global_v2\.csv: \d+ rows/);
  assert.match(logged[3], /^ {2}τ2 severity \(global Brixia score, paper bins\): 0–4 \d+, 5–8 \d+, 9–13 \d+, 14–18 \d+; 3 centres: AGFA\+FUJIFILM \d+/);
});

test.run();
