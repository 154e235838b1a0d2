import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { AFC_EXCLUDED, readAIforCOVID, readBrixia, readCovidCxr, parseRegionBox } from '../../ts/data/readers';
import { binGlobal, findMask, padBrixia } from '../../ts/data/records';
import { readXlsx, parseCsv } from '../../ts/data/sheets';
import { rejects, sharedData, synthFixture, tmpDir, writeXlsx } from './_fixture';

test('global-score bins: paper (<5, 5–8, 9–13, ≥14) and code (≤4, 5–9, 10–14, ≥15)', () => {
  const g = Array.from({ length: 19 }, (_, i) => i);
  assert.equal(g.map((x) => binGlobal(x)), [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
  assert.equal(g.map((x) => binGlobal(x, 'code')), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3]);
  for (const bad of [-1, 19, 4.5, NaN]) assert.throws(() => binGlobal(bad), /out of range/);
});

test('BrixiaScore is zero-padded to six digits (str(int(s)).zfill(6))', () => {
  assert.is(padBrixia('23013'), '023013');
  assert.is(padBrixia(23013), '023013');
  assert.is(padBrixia('0'), '000000');
  assert.is(padBrixia('[1230]'), '001230');
  assert.is(padBrixia('333333'), '333333');
  assert.throws(() => padBrixia('1234567'), /not 1\.\.6 digits/);
  assert.throws(() => padBrixia('004000'), /outside 0\.\.3/);
  assert.throws(() => padBrixia('12a'), /not 1\.\.6 digits/);
  // a float column's '.0' (pandas writes one when the column has a blank), as BrixiaScoreGlobal '12.0' is read
  assert.is(padBrixia('23013.0'), '023013');
  assert.is(padBrixia('0.00'), '000000');
  assert.throws(() => padBrixia('23013.5'), /not 1\.\.6 digits/);
  assert.throws(() => padBrixia('.0'), /not 1\.\.6 digits/);
});

test('CSV parsing honours quotes and separators', () => {
  assert.equal(parseCsv('a;b\n"x;y";"he said ""hi"""\r\n1;\n', ';'), [['a', 'b'], ['x;y', 'he said "hi"'], ['1', '']]);
});

test('AIforCOVID reader on the synthetic layout: three releases, centres, labels, masks, boxes, exclusions', async () => {
  const { afcRoot, nAfc } = await synthFixture();
  const { records, skipped } = await readAIforCOVID(afcRoot);
  assert.is(skipped.length, 0);
  const ids = new Set(records.map((r) => r.id));
  const excludedPresent = AFC_EXCLUDED.filter((id) => fs.existsSync(path.join(afcRoot, 'imgs_r3', `${id}.dcm`)) || fs.existsSync(path.join(afcRoot, 'imgs_r2', `${id}.dcm`)));
  assert.ok(excludedPresent.includes('P_3_20'), 'the fixture contains an excluded id');
  for (const id of excludedPresent) assert.not.ok(ids.has(id), `${id} excluded`);
  assert.is(records.length, nAfc - excludedPresent.length);
  assert.ok(records.some((r) => r.id.startsWith('P_1_') && r.image.includes('imgs_r2')));
  assert.ok(records.some((r) => /^P_\d+$/.test(r.id) && r.image.includes(`${path.sep}imgs${path.sep}`)));
  for (const r of records) {
    assert.ok(r.label === 0 || r.label === 1);
    assert.is(r.labelName, r.label ? 'SEVERE' : 'MILD');
    assert.ok('ABCDEF'.includes(r.center));
    assert.ok(r.mask && fs.existsSync(r.mask));
    assert.ok(r.box && r.box[2] > 0 && r.box[3] > 0);
    if (r.id.startsWith('P_3_') || r.id.startsWith('P_1_')) assert.is(r.center, 'F');
    if (r.id.startsWith('P_2_')) assert.is(r.center, 'C');
  }
  const r1 = await readAIforCOVID(afcRoot, { releases: [1], exclude: [] });
  assert.ok(r1.records.every((r) => /^P_\d+$/.test(r.id)));
  const all = await readAIforCOVID(afcRoot, { exclude: [] });
  assert.is(all.records.length, nAfc);
});

test('AIforCOVID lung masks are found as <id>.tif, .tiff or .png, as BRIXIA\'s are (.tif first)', async () => {
  const { afcRoot } = await synthFixture();
  const [a, b, c] = (await readAIforCOVID(afcRoot)).records;
  const dir = tmpDir('afc-masks');
  fs.copyFileSync(a.mask!, path.join(dir, `${a.id}.tiff`));
  await sharp(b.mask!).png().toFile(path.join(dir, `${b.id}.png`));
  for (const ext of ['.tif', '.png']) fs.copyFileSync(c.mask!, path.join(dir, `${c.id}${ext}`));
  const got = new Map((await readAIforCOVID(afcRoot, { maskDir: dir })).records.map((r) => [r.id, r.mask]));
  assert.is(got.get(a.id), path.join(dir, `${a.id}.tiff`)); // was: no mask, and a per-image warning
  assert.is(got.get(b.id), path.join(dir, `${b.id}.png`));
  assert.is(got.get(c.id), path.join(dir, `${c.id}.tif`), 'the data set\'s own .tif first');
  assert.is([...got.values()].filter(Boolean).length, 3);
  assert.is(findMask(dir, c.id, '.png'), path.join(dir, `${c.id}.png`));
});

test('a missing release sheet names data.afcReleases with the releases that are there', async () => {
  const root = tmpDir('onlyr1');
  await writeXlsx(path.join(root, 'AIforCOVID.xlsx'), [['ImageFile', 'Hospital', 'Prognosis'], ['P_1', 'A', 'MILD']]);
  let e = await rejects(() => readAIforCOVID(root, { checkFiles: false }));
  assert.is(e.code, 'EIO');
  assert.ok(e.message.includes(`${path.join(root, 'AIforCOVID_r2.xlsx')}: sheet file not found; to read only the releases you have (AIforCOVID.xlsx), give --afc-releases 1 to mdmt train or mdmt experiment, data.afcReleases: [1] to train(), or releases: [1] to readAIforCOVID`), e.message);
  assert.is((await readAIforCOVID(root, { checkFiles: false, releases: [1] })).records.length, 1);
  fs.renameSync(path.join(root, 'AIforCOVID.xlsx'), path.join(root, 'AIforCOVID_r3.xlsx'));
  e = await rejects(() => readAIforCOVID(root, { checkFiles: false }));
  assert.match(e.message, /AIforCOVID\.xlsx: sheet file not found; .*\(AIforCOVID_r3\.xlsx\), give --afc-releases 3 to mdmt train or mdmt experiment, data\.afcReleases: \[3\]/);
  // no release sheet at all: no releases to suggest
  fs.rmSync(path.join(root, 'AIforCOVID_r3.xlsx'));
  e = await rejects(() => readAIforCOVID(root, { checkFiles: false }));
  assert.match(e.message, /AIforCOVID\.xlsx: sheet file not found$/);
});

test('box sheet: regionprops [min_row, min_col, max_row, max_col] → [x, y, w, h]', () => {
  assert.equal(parseRegionBox('[10, 20, 110, 220]', 'x'), [20, 10, 200, 100]);
  assert.throws(() => parseRegionBox('[10, 20, 5]', 'sheet row 3'), /sheet row 3/);
});

test('BRIXIA reader on the synthetic layout: padded scores, sums, bins, manufacturers, masks', async () => {
  const { bxRoot, nBx } = await synthFixture();
  const csv = fs.readFileSync(path.join(bxRoot, 'metadata_global_v2.csv'), 'utf8');
  assert.ok(csv.split('\n')[0].includes(';'));
  const paper = await readBrixia(bxRoot);
  const code = await readBrixia(bxRoot, { bins: 'code' });
  assert.is(paper.records.length, nBx);
  let short = 0;
  for (const [i, r] of paper.records.entries()) {
    assert.match(r.labelName, /^[0-3]{6}$/);
    assert.is([...r.labelName].reduce((a, c) => a + Number(c), 0), r.global);
    assert.is(r.label, binGlobal(r.global!));
    assert.is(code.records[i].label, binGlobal(r.global!, 'code'));
    assert.ok(r.mask && fs.existsSync(r.mask));
    assert.ok(r.image.includes('dicom_clean'));
    if (r.labelName.startsWith('0')) short++;
  }
  assert.ok(short > 0, 'some scores were written without their leading zeros');
  assert.ok(new Set(paper.records.map((r) => r.center)).size >= 3);
  assert.ok(paper.records.some((r) => r.label !== code.records[paper.records.indexOf(r)].label), 'the two bin rules differ somewhere');
});

test('BRIXIA box sheet (box_data_BX.xlsx): boxes attach to their images; a bad box is named', async () => {
  const { bxRoot } = await synthFixture();
  const dir = tmpDir('bxbox');
  fs.copyFileSync(path.join(bxRoot, 'metadata_global_v2.csv'), path.join(dir, 'metadata_global_v2.csv'));
  const first = (await readBrixia(bxRoot)).records[0];
  const ExcelJS = (await import('exceljs')).default;
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('boxes');
  ws.addRow(['img', 'dx', 'sx', 'all']);
  ws.addRow([first.id, '', '', '[5, 6, 50, 60]']);
  await wb.xlsx.writeFile(path.join(dir, 'box_data_BX.xlsx'));
  const got = await readBrixia(dir, { imageDir: path.join(bxRoot, 'dicom_clean'), maskDir: null });
  assert.equal(got.records[0].box, [6, 5, 54, 45]);
  assert.is(got.records[1].box, undefined);
  ws.addRow(['x', '', '', '[1, 2]']);
  await wb.xlsx.writeFile(path.join(dir, 'box_data_BX.xlsx'));
  const e = await rejects(() => readBrixia(dir, { imageDir: path.join(bxRoot, 'dicom_clean') }));
  assert.match(e.message, /box_data_BX\.xlsx row 3 column 'all': box '\[1, 2\]'/);
});

test('covid-cxr: prognosis from went_icu or survival, severity from brixia_global_senior', async () => {
  const dir = sharedData('covid-cxr', 'covid-cxr reader');
  if (!dir) return;
  const lines = parseCsv(fs.readFileSync(path.join(dir, 'labels.csv'), 'utf8'));
  const h = lines[0];
  const col = (n: string) => lines.slice(1).map((l) => l[h.indexOf(n)]);
  const icu = await readCovidCxr(dir, { prognosis: 'went_icu', severity: null });
  assert.is(icu.records.length, col('went_icu').filter((v) => v === 'Y' || v === 'N').length);
  assert.is(icu.records.filter((r) => r.label === 1).length, col('went_icu').filter((v) => v === 'Y').length);
  const surv = await readCovidCxr(dir, { prognosis: 'survival', severity: null });
  assert.is(surv.records.filter((r) => r.label === 1).length, col('survival').filter((v) => v === 'N').length, 'died = SEVERE');
  const sev = await readCovidCxr(dir, { prognosis: null });
  const senior = col('brixia_global_senior').filter((v) => v !== '');
  assert.is(sev.records.length, senior.length);
  assert.ok(sev.records.every((r) => r.task === 'BX' && r.label === binGlobal(r.global!)));
  assert.ok(icu.records.every((r) => fs.existsSync(r.image) && r.center !== ''));
});

async function copyAfc(tag: string): Promise<string> {
  const { afcRoot } = await synthFixture();
  const dst = path.join(tmpDir(tag), 'AIforCOVID');
  fs.cpSync(afcRoot, dst, { recursive: true });
  return dst;
}

test('bad sheets: unreadable, missing column, out-of-range label, missing image — named errors; skip mode counts', async () => {
  const root = await copyAfc('badafc');
  const sheet = path.join(root, 'AIforCOVID_r3.xlsx');
  // a missing image
  const s = await readXlsx(sheet);
  const victim = s.rows[3].cells.ImageFile;
  fs.rmSync(path.join(root, 'imgs_r3', `${victim}.dcm`));
  let e = await rejects(() => readAIforCOVID(root));
  assert.instance(e, MdmtError);
  assert.match(e.message, new RegExp(`AIforCOVID_r3\\.xlsx row ${s.rows[3].line}: image not found: .*${victim}\\.dcm`));
  const skipped = await readAIforCOVID(root, { onBadRecord: 'skip' });
  assert.is(skipped.skipped.length, 1);
  assert.ok(skipped.skipped[0].error.includes(victim));
  // an unreadable sheet
  fs.writeFileSync(sheet, 'this is not a zip archive');
  e = await rejects(() => readAIforCOVID(root));
  assert.match(e.message, /AIforCOVID_r3\.xlsx: unreadable \.xlsx/);
  // a missing column / an out-of-range label (BRIXIA csv)
  const { bxRoot } = await synthFixture();
  const dir = tmpDir('badbx');
  const text = fs.readFileSync(path.join(bxRoot, 'metadata_global_v2.csv'), 'utf8').split('\n');
  const write = (lines: string[]) => fs.writeFileSync(path.join(dir, 'metadata_global_v2.csv'), lines.join('\n'));
  write([text[0].replace('BrixiaScoreGlobal', 'GlobalScore'), ...text.slice(1)]);
  e = await rejects(() => readBrixia(dir, { imageDir: path.join(bxRoot, 'dicom_clean') }));
  assert.match(e.message, /metadata_global_v2\.csv: missing column 'BrixiaScoreGlobal'/);
  const bad = text.slice();
  const cells = bad[2].split(';');
  cells[cells.length - 1] = '25';
  bad[2] = cells.join(';');
  const cells2 = bad[4].split(';');
  cells2[cells2.length - 2] = '1400';
  bad[4] = cells2.join(';');
  write(bad);
  e = await rejects(() => readBrixia(dir, { imageDir: path.join(bxRoot, 'dicom_clean') }));
  assert.match(e.message, /metadata_global_v2\.csv row 3: column 'BrixiaScoreGlobal' is '25'/);
  const sk = await readBrixia(dir, { imageDir: path.join(bxRoot, 'dicom_clean'), onBadRecord: 'skip' });
  assert.is(sk.skipped.length, 2);
  assert.match(sk.skipped[1].error, /row 5 column 'BrixiaScore'.*outside 0\.\.3/);
  assert.is(sk.records.length, text.filter((l) => l.trim()).length - 1 - 2);
  // a bad Prognosis value
  const root2 = await copyAfc('badprog');
  const csvDir = tmpDir('progcsv');
  fs.writeFileSync(path.join(csvDir, 'AIforCOVID.xlsx'), '');
  e = await rejects(() => readAIforCOVID(csvDir, { releases: [1] }));
  assert.match(e.message, /AIforCOVID\.xlsx: unreadable/);
  const ExcelJS = (await import('exceljs')).default;
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path.join(root2, 'AIforCOVID.xlsx'));
  wb.worksheets[0].getRow(3).getCell(6).value = 'MODERATE';
  await wb.xlsx.writeFile(path.join(root2, 'AIforCOVID.xlsx'));
  e = await rejects(() => readAIforCOVID(root2));
  assert.match(e.message, /AIforCOVID\.xlsx row 3: column 'Prognosis' is 'MODERATE' \(expected MILD or SEVERE\)/);
});

test.run();
