/**
 * The readers' summary counts the records kept per class and per centre of each task (class
 * balance, LOCO feasibility): checked against counts made from the sheets themselves.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AFC_EXCLUDED, readAIforCOVID, readBrixia, readCovidCxr } from '../../ts/data/readers';
import { binNames, formatTaskCounts, type NameCount } from '../../ts/data/records';
import { readXlsx } from '../../ts/data/sheets';
import { resolveTrainConfig } from '../../ts/train/config';
import { loadRecords, prepareFold } from '../../ts/train/data';
import { MdmtError } from '../../ts/errors';
import { tmpDir } from '../train/_fixture';
import { sharedData, synthFixture } from './_fixture';

/** name → count, sorted by name, as the summary lists centres */
const tally = (names: string[]): NameCount[] => {
  const m = new Map<string, number>();
  for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
  return [...m].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([name, count]) => ({ name, count }));
};

test('BRIXIA summary: records per bin and per centre, as counted from metadata_global_v2.csv', async () => {
  const { bxRoot } = await synthFixture();
  const [head, ...lines] = fs.readFileSync(path.join(bxRoot, 'metadata_global_v2.csv'), 'utf8').trim().split('\n').map((l) => l.split(';'));
  const col = (n: string) => head.indexOf(n);
  const globals = lines.map((l) => Number(l[col('BrixiaScoreGlobal')]));
  for (const bins of ['paper', 'code'] as const) {
    const ds = await readBrixia(bxRoot, { bins, centres: 'raw' });
    const edges = bins === 'paper' ? [5, 9, 14] : [5, 10, 15];
    const perBin = [0, 1, 2, 3].map((b) => globals.filter((g) => (b === 0 || g >= edges[b - 1]) && (b === 3 || g < edges[b])).length);
    assert.equal(ds.summary.tasks, [{
      task: 'BX', bins, classes: binNames(bins).map((name, i) => ({ name, count: perBin[i] })),
      centres: tally(lines.map((l) => l[col('Manufacturer')])),
    }]);
  }
  assert.equal(binNames('paper'), ['0–4', '5–8', '9–13', '14–18']);
  assert.equal(binNames('code'), ['0–4', '5–9', '10–14', '15–18']);
});

test('AIforCOVID summary: records per prognosis and per hospital, as counted from the three release sheets', async () => {
  const { afcRoot } = await synthFixture();
  const rows = (await Promise.all(['AIforCOVID.xlsx', 'AIforCOVID_r2.xlsx', 'AIforCOVID_r3.xlsx'].map((f) => readXlsx(path.join(afcRoot, f)))))
    .flatMap((s) => s.rows.map((r) => r.cells))
    .filter((c) => !AFC_EXCLUDED.includes(c.ImageFile.replace(/\.dcm$/, '')));
  const ds = await readAIforCOVID(afcRoot);
  assert.is(ds.summary.kept, rows.length);
  assert.equal(ds.summary.tasks, [{
    task: 'AFC',
    classes: ['MILD', 'SEVERE'].map((name) => ({ name, count: rows.filter((c) => c.Prognosis === name).length })),
    centres: tally(rows.map((c) => c.Hospital)),
  }]);
  assert.match(formatTaskCounts(ds.summary.tasks[0]), /^τ1 prognosis: MILD \d+, SEVERE \d+; \d centres: A \d+, B \d+/);
});

test('covid-cxr summary and log: both tasks per class and per centre (counts from labels.csv with Python csv)', async () => {
  const dir = sharedData('covid-cxr', 'covid-cxr summary');
  if (!dir) return;
  const ds = await readCovidCxr(dir);
  const lines = ds.summary.tasks.map(formatTaskCounts);
  assert.equal(lines, [
    'τ1 prognosis: MILD 67, SEVERE 119; 7 centres: ann-clinmicrob.biomedcentral.com 1, cureus.com 6, en.wikipedia.org 1, eurorad.org 44, github.com 92, radiopaedia.org 39, tropmedhealth.biomedcentral.com 3',
    'τ2 severity (global Brixia score, paper bins): 0–4 20, 5–8 25, 9–13 27, 14–18 12; 4 centres: eurorad.org 11, jkms.org 2, kjronline.org 4, radiopaedia.org 67',
  ]);
  // what mdmt train / experiment / demo print: the reader's line, then one line per task
  const log: string[] = [];
  await loadRecords({ covidCxr: dir }, undefined, (m) => log.push(m));
  assert.equal(log.slice(1), lines.map((l) => `  ${l}`));
});

test('a covid-cxr folder without τ1 (or τ2) records is named with its sheet and column, not as "no AIforCOVID records"', async () => {
  const d = tmpDir('cxr-none');
  const file = path.join(d, 'labels.csv');
  for (const f of ['a.png', 'b.png']) fs.writeFileSync(path.join(d, f), ''); // only looked for: nothing is decoded
  fs.writeFileSync(file, 'file,source_url,went_icu,brixia_global_senior\na.png,http://a,,3\nb.png,http://a,,7\n');
  const recs = await loadRecords({ covidCxr: d });
  const cfg = (experiment: 'stl_afc' | 'stl_bx') => resolveTrainConfig({ backbone: 'shufflenet_v2_x0_5', experiment, outDir: path.join(d, experiment), data: { covidCxr: d } });
  const e = (() => { try { prepareFold(cfg('stl_afc'), recs); } catch (x) { return x as MdmtError; } return assert.unreachable() as never; })();
  assert.is(e.code, 'EDATA');
  assert.match(e.message, `no τ1 records to split: covid-cxr ${file} gave none (τ1 comes from its went_icu column, Y or N;`);
  assert.not.match(e.message, 'AIforCOVID');
  fs.writeFileSync(file, 'file,source_url,went_icu,brixia_global_senior\na.png,http://a,Y,\nb.png,http://a,N,\n');
  const only = await loadRecords({ covidCxr: d });
  assert.throws(() => prepareFold(cfg('stl_bx'), only), /no τ2 records to split: covid-cxr .*labels\.csv gave none \(τ2 from its brixia_global_senior column/);
});

test.run();
