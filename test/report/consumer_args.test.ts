/**
 * collectResults / writeReport / synth as plain JavaScript calls them: a path that is not a
 * string, and report options that would be ignored or misread ({ mu: 'x' } reported the fold
 * mean, { ddof: -1 } divided σ by n + 1), are ECONFIG naming them, before anything is written.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { synth } from '../../ts/data/synth';
import { writeReport } from '../../ts/report';
import { collectResults } from '../../ts/train/experiment';
import { expectError } from '../helpers';

/** A value of the wrong type, as plain JavaScript passes it. */
const js = (v: unknown): never => v as never;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-args-'));

test('collectResults names a runsDir that is not a path (was: folder "[object Object]" does not exist)', () => {
  expectError(() => collectResults(js({ runsDir: dir })), 'ECONFIG', 'collectResults', /runsDir must be the path of a runs directory, got an Object/, 'object');
  expectError(() => collectResults(js(undefined)), 'ECONFIG', 'collectResults', /got undefined/, 'undefined');
  assert.equal(collectResults(dir), []);
});

test('writeReport refuses options it would ignore or misread, and an outDir that is not a path', () => {
  const out = path.join(dir, 'report');
  expectError(() => writeReport([], out, js({ mu: 'pool' })), 'ECONFIG', 'writeReport', /mu must be 'folds' or 'pooled', got "pool"/, 'mu');
  expectError(() => writeReport([], out, { ddof: -1 }), 'ECONFIG', 'writeReport', /ddof must be an integer ≥ 0, got -1/, 'ddof -1');
  expectError(() => writeReport([], out, { ddof: 0.5 }), 'ECONFIG', 'writeReport', /got 0\.5/, 'ddof 0.5');
  expectError(() => writeReport([], out, js({ ddofs: 1 })), 'ECONFIG', 'writeReport', /unknown option 'ddofs'.*did you mean ddof/, 'misspelt key');
  expectError(() => writeReport(js(undefined), out), 'ECONFIG', 'writeReport', /results must be an array/, 'no results');
  expectError(() => writeReport([], js(5)), 'ECONFIG', 'writeReport', /outDir must be the path of the report directory, got 5/, 'outDir 5 (was: "is empty")');
  assert.not.ok(fs.existsSync(out), 'a refused call made the report folder');
  assert.ok(writeReport([], out, { mu: 'pooled', ddof: 1 }).markdown.includes('ddof 1'));
});

test('writeReport refuses a result that is not a run\'s, naming its index and field (was: a "0 runs" report, a TypeError, a 170 % cell)', () => {
  const out = path.join(dir, 'report-bad');
  const run = { backbone: 'resnet18', experiment: 'stl_afc', protocol: 'cv', fold: 0, metrics: { acc: 0.7, f1: 0.6, gmean: 0.65 } };
  expectError(() => writeReport(js([{}]), out), 'ECONFIG', 'writeReport', /results\[0\]\.backbone is undefined/, '{}');
  expectError(() => writeReport(js([run, null]), out), 'ECONFIG', 'writeReport', /results\[1\] is null, not a run's result/, 'null');
  expectError(() => writeReport(js(['x']), out), 'ECONFIG', 'writeReport', /results\[0\] is "x"/, 'a string');
  expectError(() => writeReport(js([{ ...run, metrics: { acc: 1.7, f1: 0.5, gmean: 0.5 } }]), out), 'ECONFIG', 'writeReport', /results\[0\]\.metrics\.acc is 1\.7, outside \[0, 1\]/, 'acc 1.7');
  expectError(() => writeReport(js([{ ...run, experiment: 'mdtm' }]), out), 'ECONFIG', 'writeReport', /results\[0\]\.experiment is "mdtm"/, 'unknown experiment');
  expectError(() => writeReport(js([{ ...run, cm: [[1, 2]] }]), out), 'ECONFIG', 'writeReport', /results\[0\]\.cm is not a square matrix/, 'ragged cm');
  assert.not.ok(fs.existsSync(out), 'a refused call made the report folder');
  // NaN metrics (a fold without test records of its task) are a result, as collectResults reads them
  assert.ok(writeReport([run, { ...run, fold: 1, metrics: { acc: NaN, f1: NaN, gmean: NaN }, cm: [] }] as never, out).markdown.includes('1 run,'));
});

test('writeReport refuses an option of the wrong type, naming it (was: ignored, misread, or a TypeError / plain Error after half the report was written)', () => {
  const out = path.join(dir, 'report-opts');
  const cases: [unknown, RegExp][] = [
    [{ curves: 'no' }, /curves must be true or false, got "no"/],
    [{ title: 5 }, /title must be a string, got 5/],
    [{ warmupEpochs: -3 }, /warmupEpochs must be an integer ≥ 0, got -3/],
    [{ warmupEpochs: 'x' }, /warmupEpochs must be an integer ≥ 0, got "x"/],
    [{ unfinished: 'abc' }, /unfinished must be an array of strings, got "abc"/],
    [{ mixedSettings: [1] }, /mixedSettings must be an array of strings/],
    [{ bootstrap: 'x' }, /options\.bootstrap must be an object, got "x"/],
    [{ bootstrap: { resample: 10 } }, /unknown options\.bootstrap key 'resample'.*did you mean resamples/],
    [{ bootstrap: { resamples: 0 } }, /bootstrap\.resamples must be an integer ≥ 1, got 0/],
    [{ bootstrap: { seed: 'x' } }, /bootstrap\.seed must be an integer, got "x"/],
  ];
  for (const [o, re] of cases) expectError(() => writeReport([], out, js(o)), 'ECONFIG', 'writeReport', re, JSON.stringify(o));
  assert.not.ok(fs.existsSync(out), 'a refused call made the report folder');
  assert.ok(writeReport([], out, { title: 'T', curves: false, warmupEpochs: 0, unfinished: [], mixedSettings: [], bootstrap: { resamples: 10, seed: 1 } }).markdown.startsWith('# T'));
});

test('synth(5) rejects with ECONFIG naming out (was a raw TypeError from path.join)', async () => {
  try {
    await synth(js(5));
    assert.unreachable('did not reject');
  } catch (e) {
    assert.instance(e, MdmtError, String(e));
    assert.is((e as MdmtError).code, 'ECONFIG');
    assert.match((e as Error).message, /out must be the path of a folder, got 5/);
  }
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
