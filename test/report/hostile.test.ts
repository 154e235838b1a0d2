// mdmt report on runs directories a user has at hand: a result.json that is not one, the same
// job finished twice (a copied run directory), a runs path or --out that is a file; and the
// per-centre table where a centre's test images are all one prognosis (G-mean undefined).
// Each is an MdmtError naming the file(s), not a TypeError or a raw ENOTDIR.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCodeOf } from '../../ts/cli/main';
import { mixedSettings, reportRuns } from '../../ts/cli/report';
import { MdmtError } from '../../ts/errors';
import { saveSafetensors } from '../../ts/io/safetensors';
import { writeReport } from '../../ts/report';
import { centreMarkdown, type CentreRow } from '../../ts/report/uncertainty';
import { tensor } from '../../ts/tensor';
import type { RunResult } from '../../ts/report/types';
import { resolveTrainConfig } from '../../ts/train/config';
import { encodeJson } from '../../ts/train/checkpoint';
import { collectResults } from '../../ts/train/experiment';
import { mdmtFileLimited } from '../helpers';
import { tmpDir } from '../train/_fixture';
import { syntheticResults } from './synthetic';

const run = (fold: number, over: Partial<RunResult> = {}): RunResult => ({
  backbone: 'resnet18', experiment: 'stl_afc', protocol: 'cv', fold, metrics: { acc: 0.7, f1: 0.6, gmean: 0.65 }, ...over,
});
function writeRun(dir: string, rel: string, json: unknown): string {
  const f = path.join(dir, rel, 'result.json');
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, JSON.stringify(json));
  return f;
}
function throwsData(f: () => unknown, ...needles: string[]): void {
  try {
    f();
  } catch (e) {
    assert.instance(e, MdmtError, String(e));
    assert.is((e as MdmtError).code, 'EDATA');
    for (const n of needles) assert.ok((e as Error).message.includes(n), `'${(e as Error).message}' names '${n}'`);
    return;
  }
  assert.unreachable('no error');
}

test('a result.json of another shape is an error naming the file and the field (it was a TypeError)', () => {
  const cases: [unknown, string][] = [
    [{}, "no 'result' object"], [[1, 2], "no 'result' object"], [{ result: { ...run(0), backbone: 5 } }, 'result.backbone is 5'],
    [{ result: { ...run(0), experiment: 'stl' } }, 'result.experiment is "stl"'], [{ result: { ...run(0), metrics: {} } }, 'result.metrics.acc is undefined'],
  ];
  for (const [json, field] of cases) {
    const dir = tmpDir('rep-bad');
    const f = writeRun(dir, 'cv/resnet18/stl_afc/fold0', json);
    throwsData(() => collectResults(dir), f, field);
  }
  // the calibration and test outputs the trust sections read (an edit gave 'T.toFixed is not a function')
  const stats = { n: 2, nll: 0.6, ece: 0.1, brier: 0.4 };
  const cal = { temperature: 1.5, val: { before: stats, after: stats }, test: { before: stats, after: { ...stats, nll: null } } };
  const pred = { ids: ['a', 'b'], centers: ['X', 'Y'], yTrue: [0, 1], logits: [[0.1, 0.2], [0.3, -1]] };
  const trust: [unknown, string][] = [
    [{ calibration: { afc: { ...cal, temperature: 'abc' } } }, 'result.calibration.afc.temperature is "abc"'],
    [{ calibration: { bx: { ...cal, temperature: 0 } } }, 'result.calibration.bx.temperature is 0'],
    // the calibration table read these: a `test: {}` was "Cannot read properties of undefined (reading 'ece')"
    [{ calibration: { afc: { ...cal, test: {} } } }, 'result.calibration.afc.test.before is undefined (the calibration stats n, nll, ece, brier)'],
    [{ calibration: { afc: { ...cal, val: { before: stats, after: { ...stats, ece: '0.1' } } } } }, 'result.calibration.afc.val.after.ece is "0.1"'],
    [{ calibration: { afc: { ...cal, fitted: 'x' } } }, 'result.calibration.afc.fitted is "x" (a positive number)'],
    [{ calibration: { afc: { ...cal, check: 'applied' } } }, 'result.calibration.afc.check is "applied"'],
    [{ predictions: { afc: { ...pred, logits: undefined } } }, 'result.predictions.afc.logits is not an array of 2'],
    [{ predictions: { afc: { ...pred, centers: ['X'] } } }, 'result.predictions.afc.centers is not an array of 2'],
    [{ predictions: { afc: { ...pred, yTrue: [0, 1.5] } } }, 'result.predictions.afc.yTrue holds a value that is not a class index'],
    [{ predictions: { bx: { ...pred, logits: [[0.1], 'z'] } } }, 'result.predictions.bx.logits holds a row that is not an array of numbers'],
    [{ predictions: { afc: { ...pred, logits: [[0.1, 0.2], [0.3, -1, 5]] } } }, 'result.predictions.afc.logits[1] has 3 entries, row 0 2 (one per class)'],
    [{ predictions: { afc: { ...pred, yTrue: [0, 2] } } }, 'result.predictions.afc.yTrue[1] is 2, not a class of its 2 logits'],
    [{ predictions: { afc: { ...pred, centers: [1, 2] } } }, 'result.predictions.afc.centers holds a value that is not a string'],
    [{ predictions: { afc: { ...pred, ids: ['a', null] } } }, 'result.predictions.afc.ids holds a value that is not a string'],
  ];
  for (const [extra, field] of trust) {
    const dir = tmpDir('rep-bad-trust');
    const f = writeRun(dir, 'cv/resnet18/stl_afc/fold0', { result: { ...run(0), ...(extra as object) } });
    throwsData(() => collectResults(dir), f, field);
  }
  const good = tmpDir('rep-trust');
  writeRun(good, 'a', { result: run(0, { calibration: { afc: cal as never }, predictions: { afc: pred } }) });
  assert.is(collectResults(good).length, 1);
  // and what passes the check makes a calibration table (a NaN NLL as '–')
  assert.match(writeReport(collectResults(good), tmpDir('rep-trust-out')).markdown, '| 1.50 | 10.0 → 10.0 | 0.400 → 0.400 | 0.600 → – | 2 |');
  // NaN metrics, as JSON writes them (null), are a result
  const dir = tmpDir('rep-null');
  writeRun(dir, 'a', { result: run(0, { metrics: { acc: null, f1: null, gmean: null } as unknown as RunResult['metrics'] }) });
  assert.is(collectResults(dir).length, 1);
});

test("a fold without test records of its task, as train() writes it (metrics 'NaN', cm []), is a result: mdmt demo --data covid-cxr failed on its LOCO STL τ2 run", () => {
  // the github.com centre of covid-cxr has no Brixia score: its LOCO STL τ2 test set is empty
  const nan = { acc: NaN, f1: NaN, gmean: NaN };
  const dir = tmpDir('rep-untested');
  writeRun(dir, 'loco/resnet18/stl_bx/fold4', JSON.parse(encodeJson({ result: run(0, { experiment: 'stl_bx', protocol: 'loco', fold: 'github.com', metrics: nan, cm: [] }) })));
  writeRun(dir, 'loco/resnet18/mdmt/fold4', JSON.parse(encodeJson({ result: run(0, { experiment: 'mdmt', protocol: 'loco', fold: 'github.com', bxMetrics: nan, cm: [[3, 1], [0, 2]] }) })));
  const got = collectResults(dir);
  assert.is(got.length, 2);
  assert.ok(Number.isNaN(got.find((r) => r.experiment === 'stl_bx')!.metrics.acc));
  // an empty matrix beside real metrics is still refused
  const bad = tmpDir('rep-untested-bad');
  const f = writeRun(bad, 'cv/resnet18/stl_afc/fold0', { result: run(0, { cm: [] }) });
  throwsData(() => collectResults(bad), f, 'result.cm is not a square matrix of counts');
});

test('a hand-edited result.json with a metric outside [0, 1], a ragged confusion matrix or odd optional fields is refused naming the field (it gave a 118 % cell, or a TypeError)', () => {
  const cases: [Partial<Record<keyof RunResult, unknown>>, string][] = [
    [{ metrics: { acc: 1.7, f1: 0.6, gmean: 0.65 } }, 'result.metrics.acc is 1.7, outside [0, 1]'],
    [{ metrics: { acc: 0.7, f1: -0.2, gmean: 0.65 } }, 'result.metrics.f1 is -0.2, outside [0, 1]'],
    [{ bxMetrics: { acc: 3, f1: 0.1, gmean: 0.1 } }, 'result.bxMetrics.acc is 3, outside [0, 1]'],
    [{ bxMetrics: { acc: 'x', f1: 0.1, gmean: 0.1 } }, 'result.bxMetrics.acc is "x"'],
    [{ metrics: { acc: 0.7, f1: null, gmean: 0.65 } }, 'result.metrics.f1 is null but result.metrics.acc is 0.7'],
    [{ metrics: { acc: 'NaN', f1: 0.6, gmean: 0.65 } }, 'result.metrics.acc is NaN but result.metrics.f1 is 0.6'],
    [{ bxMetrics: { acc: 0.4, f1: 0.3, gmean: 'NaN' } }, 'result.bxMetrics.gmean is NaN but result.bxMetrics.acc is 0.4'],
    [{ cm: [[1, 2], [3]] }, 'result.cm is not a square matrix of counts'],
    [{ cm: [[-1, 2], [3, 4]] }, 'result.cm is not a square matrix of counts'],
    [{ cm: 'x' }, 'result.cm is not a square matrix of counts'],
    [{ fold: 0.5 }, 'result.fold is 0.5'],
    [{ imagenet: 'yes' }, 'result.imagenet is "yes"'],
    [{ warmupEpochs: -3 }, 'result.warmupEpochs is -3'],
    [{ history: 5 }, 'result.history is not an array of epoch records'],
    // a record without its epoch drew the learning curve at x = NaN, without a word
    [{ history: [{ epoch: 1, trainLoss: 1, valLoss: 1, lr: 1e-3 }, { trainLoss: 1, valLoss: 1, lr: 1e-3 }] }, 'result.history[1].epoch is undefined (an epoch number ≥ 1)'],
    [{ history: [{ epoch: '1', trainLoss: 1, valLoss: 1, lr: 1e-3 }] }, 'result.history[0].epoch is "1"'],
    [{ skipped: 'x' }, 'result.skipped is not a list'],
    [{ skipped: [{ part: 'test', task: 'AFC' }] }, 'result.skipped is not a list'],
  ];
  for (const [extra, field] of cases) {
    const dir = tmpDir('rep-bad-edit');
    const f = writeRun(dir, 'cv/resnet18/stl_afc/fold0', { result: { ...run(0), ...extra } });
    throwsData(() => collectResults(dir), f, field);
  }
  const dir = tmpDir('rep-good-edit');
  writeRun(dir, 'a', { result: run(0, { cm: [[3, 1], [0, 2]], imagenet: false, warmupEpochs: 0, bestEpoch: 2, history: [], fold: '0', skipped: [{ part: 'test', task: 'AFC', id: 'P_1', file: 'x.dcm', error: 'bad' }] }) });
  assert.is(collectResults(dir).length, 1);
});

test('runs trained with different settings under one folder: the report warns naming each setting, its values and their runs (they were averaged unwarned)', () => {
  const dir = tmpDir('rep-mixed');
  const job = (rel: string, fold: number, o: object = {}) => {
    const f = writeRun(dir, rel, { result: run(fold) });
    const cfg = resolveTrainConfig({ backbone: 'resnet18', experiment: 'stl_afc', fold, outDir: path.dirname(f), data: { afc: '/data/AIforCOVID' }, imageSize: 32, ...o });
    fs.writeFileSync(path.join(path.dirname(f), 'config.json'), JSON.stringify(cfg));
  };
  job('cv/resnet18/stl_afc/fold0', 0);
  job('cv/resnet18/stl_afc/fold1', 1, { workers: 3, device: 'cpu' }); // runtime settings: one sweep
  assert.equal(mixedSettings(dir), []);
  assert.not.ok(reportRuns(dir).warnings.some((w) => w.includes('different settings')));
  job('cv/resnet18/stl_afc/fold2', 2, { imageSize: 48, data: { afc: '/other/AIforCOVID' } });
  assert.equal(mixedSettings(dir), [
    'data.afc "/data/AIforCOVID" (cv/resnet18/stl_afc/fold0, cv/resnet18/stl_afc/fold1), "/other/AIforCOVID" (cv/resnet18/stl_afc/fold2)',
    'imageSize 32 (cv/resnet18/stl_afc/fold0, cv/resnet18/stl_afc/fold1), 48 (cv/resnet18/stl_afc/fold2)',
  ]);
  const rep = reportRuns(dir);
  const w = rep.warnings.find((x) => x.startsWith('the runs were trained with different settings, and the tables average them as one sweep: data.afc'));
  assert.ok(w, rep.warnings.join('\n'));
  assert.match(rep.markdown, `> **Warning:** ${w}.`);
});

test('one job finished twice under a runs directory is refused naming both result.json files', () => {
  const dir = tmpDir('rep-dup');
  const a = writeRun(dir, 'sweep1/cv/resnet18/stl_afc/fold0', { result: run(0) });
  writeRun(dir, 'sweep1/cv/resnet18/stl_afc/fold1', { result: run(1) });
  const b = writeRun(dir, 'copy/fold0', { result: run(0) });
  throwsData(() => collectResults(dir), 'cv resnet18 stl_afc fold 0 is finished twice', a, b);
  assert.is(collectResults(path.join(dir, 'sweep1')).length, 2);
});

test('a runs path or --out that is a file: a usage error naming it, nothing written', () => {
  const dir = tmpDir('rep-file');
  writeRun(dir, 'cv/resnet18/stl_afc/fold0', { result: run(0) });
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'x');
  const code = (f: () => unknown) => { try { f(); return 0; } catch (e) { return exitCodeOf(e, () => {}); } };
  assert.is(code(() => reportRuns(file)), 2);
  assert.throws(() => reportRuns(file), /runs directory '.*notes\.txt' is a file, not a directory/);
  assert.throws(() => reportRuns(dir, { out: file }), /--out '.*notes\.txt' is a file, not a directory/);
  assert.throws(() => reportRuns(dir, { out: path.join(file, 'sub') }), /lies under '.*notes\.txt', which is a file/);
  assert.is(fs.readFileSync(file, 'utf8'), 'x');
  assert.ok(reportRuns(dir).files.length > 0, 'the runs directory itself reports');
  // the library calls behind it say the same (they threw raw ENOTDIR, or returned [] for a missing folder)
  const err = (f: () => unknown) => { try { f(); } catch (e) { return e as MdmtError; } throw new Error('expected an error'); };
  assert.equal([err(() => collectResults(file)).code, err(() => collectResults(file)).message], ['ECONFIG', `collectResults: runs directory '${file}' is a file, not a directory`]);
  assert.equal([err(() => collectResults(path.join(dir, 'nope'))).code, err(() => collectResults(path.join(dir, 'nope'))).message], ['EIO', `collectResults: runs directory '${path.join(dir, 'nope')}' does not exist`]);
  assert.equal(err(() => writeReport(collectResults(dir), file)).message, `writeReport: outDir '${file}' is a file, not a directory`);
  const t = tensor([1, 2], [2]);
  const w = err(() => saveSafetensors(path.join(dir, 'no', 'such', 'x.safetensors'), new Map([['a', t]])));
  t.dispose();
  assert.equal([w.code, w.message.startsWith(`saveSafetensors: ${path.join(dir, 'no', 'such', 'x.safetensors')}: cannot write (ENOENT`)], ['EIO', true], w.message);
});

test('a report whose writes fail part-way (a full disk) names the file, and every file it leaves is complete', () => {
  if (process.platform !== 'linux') return;
  const dir = tmpDir('rep-full');
  for (const f of [0, 1]) writeRun(dir, `cv/resnet18/stl_afc/fold${f}`, { result: run(f, { metrics: { acc: 0.7 + f / 10, f1: 0.6, gmean: 0.65 } }) });
  const full = reportRuns(dir, { out: path.join(dir, 'whole') });
  // writes stop at 1 KiB (EFBIG, as ENOSPC would): it failed with a bare "ENOSPC: no space left on device, write", naming no file
  const out = path.join(dir, 'rep');
  const r = mdmtFileLimited(1, 'report', dir, '--out', out);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot write ${out}/\\S+: EFBIG`));
  const left = fs.readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(out, f)).isFile());
  assert.ok(left.length > 0, 'the files under 1 KiB were written');
  for (const f of left) {
    const whole = full.files.find((x) => x === path.join(full.out, f));
    assert.ok(whole, `${f} is a file of the report, not a temporary one`);
    assert.is(fs.readFileSync(path.join(out, f), 'utf8'), fs.readFileSync(whole!, 'utf8'), `${f} is complete, not cut at 1 KiB`);
  }
});

test("a report written again into its folder removes the earlier report's files it does not rewrite (they described runs no longer there); other files stay", () => {
  const out = tmpDir('rep-again');
  const all = syntheticResults({ backbones: ['resnet18', 'mobilenet_v2'], withHistory: true });
  writeReport(all, out);
  fs.writeFileSync(path.join(out, 'notes.md'), 'mine');
  fs.writeFileSync(path.join(out, 'plots', 'mine.svg'), '<svg/>');
  const stale = ['per_backbone_loco.md', 'plots/bars_loco.svg', 'plots/curves/mobilenet_v2_mdmt_cv_0.svg'];
  for (const f of stale) assert.ok(fs.existsSync(path.join(out, f)), `${f} written the first time`);
  // the LOCO runs and a backbone deleted from the runs folder (mixed settings, a diverged run), then reported again
  const again = writeReport(all.filter((r) => r.protocol === 'cv' && r.backbone === 'resnet18'), out);
  const left = fs.readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(out, f)).isFile()).map((f) => path.join(out, f));
  assert.equal(left.sort(), [...again.files, path.join(out, 'notes.md'), path.join(out, 'plots', 'mine.svg')].sort(), "this report's files, and the user's own");
});

test('per-centre: a centre whose test images are all one prognosis shows G-mean –, never as the weakest', () => {
  const row = (centre: string, n: number, classes: number, gmean: number): CentreRow => ({
    protocol: 'cv', backbone: 'resnet18', experiment: 'stl_afc', centre, n, classes, metrics: { acc: 0.9, f1: 0.9, gmean },
  });
  const md = centreMarkdown([row('A', 10, 2, 0.6), row('B', 1, 1, 0), row('C', 12, 2, 0.7)], 'cv', ['stl_afc']);
  const line = (c: string) => md.split('\n').find((l) => l.startsWith(`| resnet18 | ${c} |`))!;
  assert.match(line('B'), /\| – \|$/);
  assert.match(line('A'), /\| \*\*60\.0\*\* \|$/, 'the weakest defined G-mean is bold');
  assert.match(md, /all of one prognosis, so G-mean .* is undefined/);
  assert.not.match(centreMarkdown([row('A', 10, 2, 0.6)], 'cv', ['stl_afc']), /undefined/);
});

test("a '|' or a line break in a backbone or centre name stays inside its cell of every Markdown table", () => {
  const dir = tmpDir('mdmt-report-pipes-');
  const yTrue = [0, 1, 0, 1];
  const results: RunResult[] = ['a|b', 'new\nline'].flatMap((backbone, b) => (['stl_afc', 'ft', 'mdmt'] as const).flatMap((experiment) => (['cv', 'loco'] as const).flatMap((protocol) => [0, 1].map((f) => {
    const centre = protocol === 'loco' ? ['Ospedale|Milano', 'Centro\r\nSud'][f]! : 'A';
    const v = 0.6 + 0.01 * (b + f);
    return run(f, { backbone, experiment, protocol, fold: protocol === 'loco' ? centre : f, metrics: { acc: v, f1: v, gmean: v },
      predictions: { afc: { ids: yTrue.map(String), centers: yTrue.map(() => centre), yTrue, logits: yTrue.map((y, i) => [i % 3 ? 1 : 0, y]) } } });
  }))));
  writeReport(results, dir, { bootstrap: { resamples: 5 } });
  // a cell boundary is an unescaped '|'
  const widths = (md: string) => md.split('\n').filter((l) => l.startsWith('|')).map((l) => l.split(/(?<!\\)\|/).length);
  for (const f of ['per_backbone_cv.md', 'per_backbone_loco.md', 'per_centre_loco.md', 'intervals.md']) {
    const md = fs.readFileSync(path.join(dir, f), 'utf8');
    const w = widths(md);
    assert.ok(w.length >= 4, f);
    assert.equal(new Set(w).size, 1, `${f}: every row has the header's columns\n${md}`);
    assert.ok(md.includes('a\\|b') && md.includes('new line'), f);
  }
  assert.ok(fs.readFileSync(path.join(dir, 'per_centre_loco.md'), 'utf8').includes('| Ospedale\\|Milano |'));
});

test('pooled μ over confusion matrices of different sizes is an EDATA naming the runs and sizes, not a plain Error', () => {
  const res = [run(0, { cm: [[1, 1], [1, 1]] }), run(1, { cm: [[1, 1, 0], [1, 1, 0], [0, 0, 0]] })];
  throwsData(() => writeReport(res, tmpDir('rep-cm-sizes'), { mu: 'pooled' }), 'resnet18/stl_afc/cv', "fold 0's is 2×2 and fold 1's 3×3");
  assert.is(writeReport(res, tmpDir('rep-cm-sizes-folds'), { mu: 'folds' }).files.length > 0, true);
});

test('per-centre pooling of folds whose stored logits count different classes is an EDATA naming the runs, not a plain confusionMatrix error', () => {
  const pred = (w: number) => ({ ids: ['a', 'b', 'c'], centers: ['X', 'Y', 'X'], yTrue: [0, 1, w - 1], logits: [[0.1, 0.2, 0].slice(0, w), [0.3, -1, 0].slice(0, w), [0, 0, 1].slice(3 - w)] });
  const res = [2, 3].map((w, f) => run(f, { predictions: { afc: pred(w) } }));
  throwsData(() => writeReport(res, tmpDir('rep-classes'), { bootstrap: { resamples: 5 } }), 'resnet18/stl_afc/cv', 'fold 0 have 2 classes, of fold 1 3');
});

test.run();
