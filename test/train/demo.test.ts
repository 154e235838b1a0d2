// The demo end to end on tiny settings: synthetic data generated, STL τ1 / STL τ2 / FT / MDMT
// trained on 2 CV and 2 LOCO folds, the report written with both tables, per-backbone bars and
// one learning curve per run; a second call reuses every finished run.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { DEMO_DEFAULTS } from '../../ts/cli/commands/demo';
import { dataConfigFor, runDemo } from '../../ts/cli/demo';
import { tmpDir } from './_fixture';
import { deviceAvailable } from '../helpers';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/demo');

const tiny = (out: string) => ({
  ...DEMO_DEFAULTS, out, backbones: ['shufflenet_v2_x0_5'], nAfc: 48, nBx: 64, synthSize: 32, imageSize: 32, batchSize: 8, epochs: 2, warmup: 1, patience: 2,
  folds: 2, kFolds: 3, progress: false, log: () => {},
});

test('mdmt demo: synthetic data → 4 experiments × (2 CV + 2 LOCO folds) → Tables 1 and 2 and plots', async () => {
  if (!on) return;
  const out = tmpDir('demo');
  const logged: string[] = [];
  // the jobs' messages (progress hooks, on stderr: not a TTY here, a line each)
  const printed: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => (printed.push(String(chunk)), true)) as typeof process.stderr.write;
  const r = await runDemo({ ...tiny(out), progress: true, log: (m: string) => logged.push(m) }).finally(() => { process.stderr.write = write; });
  // the data summary once (the sweep's), not again by each of the 15 runs; the random-initialisation notice once
  const lines = printed.join('').split('\n');
  assert.is(logged.filter((m) => / records kept/.test(m)).length, 2, logged.join('\n'));
  assert.is(lines.filter((m) => / records kept/.test(m)).length, 0, lines.filter((m) => / records kept/.test(m)).join('\n'));
  assert.is(lines.filter((m) => /random initialisation, not ImageNet/.test(m)).length, 1);
  assert.ok(lines.some((m) => /^\[15\/15\] .*: epoch 2 /.test(m)), 'the runs still print their epochs');
  // what the report says above the printed tables reaches the terminal: the runs are not ImageNet-initialised
  assert.ok(logged.some((m) => /^warning: \d+ of \d+ runs did not begin from ImageNet/.test(m)), logged.join('\n'));
  assert.is(r.outcome.trained.length, 15, 'CV: 2 × (STL τ1, STL τ2, FT, MDMT); LOCO: 2 × (STL τ1, FT, MDMT) + one STL τ2');
  assert.ok(fs.existsSync(path.join(out, 'data', 'AIforCOVID', 'AIforCOVID.xlsx')) && fs.existsSync(path.join(out, 'data', 'BRIXIA', 'metadata_global_v2.csv')));
  assert.match(r.tables, '## Table 1');
  assert.match(r.tables, '## Table 2');
  for (const f of ['table1.md', 'table1.csv', 'table2.md', 'table2.csv', 'report.md', 'plots/bars_cv.svg', 'plots/bars_loco.svg'])
    assert.ok(fs.existsSync(path.join(out, 'report', f)), `${f} written`);
  const curves = fs.readdirSync(path.join(out, 'report', 'plots', 'curves')).filter((f) => f.endsWith('.svg'));
  assert.is(curves.length, 15, 'one learning curve per run');
  // Table 1 has a number in every CV and LOCO cell of STL τ1, FT and MDMT
  const t1 = fs.readFileSync(path.join(out, 'report', 'table1.md'), 'utf8');
  for (const row of ['STL τ1', 'FT', 'MDMT']) {
    const line = t1.split('\n').find((l) => l.startsWith(`| ${row} |`));
    assert.ok(line && (line.match(/\d+\.\d ± \d+\.\d/g) ?? []).length === 6, `${row}: 6 cells in ${line}`);
  }
  // trust: calibration (ECE), bootstrap intervals and per-centre tables for CV and LOCO
  const md = fs.readFileSync(path.join(out, 'report', 'report.md'), 'utf8');
  for (const s of ['## Calibration', 'ECE before → after', '## Uncertainty', '95% CI', '## Per centre — CV', '## Per centre — LOCO']) assert.match(md, s);
  assert.is(fs.readdirSync(path.join(out, 'report', 'plots', 'reliability')).length, 15, 'one reliability diagram per run');
  const again = await runDemo(tiny(out));
  assert.is(again.outcome.trained.length, 0, 'a second demo reuses every run');
  assert.is(again.outcome.skipped.length, 15);
  // other training settings on the same --out: refused naming them, not 15 old runs reused
  const e = await runDemo({ ...tiny(out), epochs: 3 }).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, /holds 15 runs trained with other settings .*schedule\.maxEpochs 2 → 3/);
});

test('mdmt demo: synthetic data of other settings in --out are refused, naming the flags', async () => {
  const out = tmpDir('demo-data');
  fs.mkdirSync(path.join(out, 'data'), { recursive: true });
  fs.writeFileSync(path.join(out, 'data', '.complete'), JSON.stringify({ seed: 0, nAfc: 48, nBx: 64, size: 32 }));
  const e = await runDemo({ ...tiny(out), nAfc: 100, synthSize: 64 }).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `${path.join(out, 'data')} holds synthetic data made with other settings (stored → requested: --n-afc 48 → 100, --synth-size 32 → 64)`);
  assert.match(e.message, 'use another --out');
  assert.not.ok(fs.existsSync(path.join(out, 'runs')), 'nothing trained');
});

test('mdmt demo --data: a folder with one data set, or a file, is named as such (it said the folder holds neither)', () => {
  const d = tmpDir('demo-one');
  fs.mkdirSync(path.join(d, 'AIforCOVID'));
  const err = (dir: string) => { try { dataConfigFor(dir); } catch (e) { return e as MdmtError; } return assert.unreachable() as never; };
  assert.match(err(d).message, /holds AIforCOVID\/ but no BRIXIA\/: the demo trains both tasks/);
  fs.renameSync(path.join(d, 'AIforCOVID'), path.join(d, 'BRIXIA'));
  assert.match(err(d).message, /holds BRIXIA\/ but no AIforCOVID\/:/);
  const f = path.join(d, 'labels.png');
  fs.writeFileSync(f, 'x');
  assert.match(err(f).message, `'${f}' is a file, not a folder: give the folder that holds labels.csv (covid-cxr) or AIforCOVID/ and BRIXIA/`);
  fs.rmSync(path.join(d, 'BRIXIA'), { recursive: true });
  assert.match(err(d).message, /holds neither labels\.csv \(covid-cxr\) nor AIforCOVID\/ and BRIXIA\//);
  fs.mkdirSync(path.join(d, 'AIforCOVID'));
  fs.mkdirSync(path.join(d, 'BRIXIA'));
  assert.equal(dataConfigFor(d), { afc: path.join(d, 'AIforCOVID'), bx: path.join(d, 'BRIXIA') });
});

test('mdmt demo --data reads the AIforCOVID releases whose sheets are there (it has no --afc-releases: a missing _r3 sheet stopped it, with a hint to that flag)', () => {
  const d = tmpDir('demo-rel');
  for (const n of ['AIforCOVID', 'BRIXIA']) fs.mkdirSync(path.join(d, n));
  for (const f of ['AIforCOVID.xlsx', 'AIforCOVID_r2.xlsx']) fs.writeFileSync(path.join(d, 'AIforCOVID', f), '');
  assert.equal(dataConfigFor(d), { afc: path.join(d, 'AIforCOVID'), bx: path.join(d, 'BRIXIA'), afcReleases: [1, 2] });
  fs.writeFileSync(path.join(d, 'AIforCOVID', 'AIforCOVID_r3.xlsx'), '');
  assert.equal(dataConfigFor(d), { afc: path.join(d, 'AIforCOVID'), bx: path.join(d, 'BRIXIA') }, 'all three: the default');
});

test.run();
