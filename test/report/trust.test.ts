// The report's trust sections from runs with stored test outputs and calibration: per-centre
// metrics equal an independent recomputation of the pooled predictions, the intervals across
// folds equal the float64 bootstrap reference, report.md shows calibration (ECE), intervals and
// per-centre tables for CV and LOCO, reliability diagrams are standalone SVG; runs without
// stored outputs give none of these sections.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { calibrationTables, centreRows, intervalRows, reliabilitySvg, writeReport } from '../../ts/report';
import type { Experiment, Protocol, RunResult } from '../../ts/report/types';
import { calibrateTask } from '../../ts/predict/calibration';
import { Rng } from '../helpers';
import { bootstrapRef, paperMetricsRef } from '../ref/calibration';
import { syntheticResults } from './synthetic';

const CENTRES = ['A', 'B', 'C', 'D'];

/** One run with n test samples spread over centres, logits that are right about 70 % of the time. */
function run(r: Rng, experiment: Experiment, protocol: Protocol, fold: number | string, centres: string[], n: number): RunResult {
  const mk = (k: number) => {
    const yTrue = Array.from({ length: k }, () => r.int(0, 1));
    const logits = yTrue.map((y) => {
      const right = r.next() < 0.7 ? y : 1 - y;
      return right === 1 ? [0, 1.5 + r.next()] : [1.5 + r.next(), 0];
    });
    return { yTrue, logits };
  };
  const val = mk(30), t = mk(n);
  const yPred = t.logits.map((z) => (z[1] > z[0] ? 1 : 0));
  const cm = [[0, 0], [0, 0]];
  t.yTrue.forEach((y, i) => cm[y][yPred[i]]++);
  const m = paperMetricsRef(t.yTrue, yPred, 2);
  return {
    backbone: 'resnet18', experiment, protocol, fold, metrics: m, cm,
    calibration: { afc: calibrateTask(val, t) },
    predictions: { afc: { ids: t.yTrue.map((_, i) => `${fold}-${i}`), centers: t.yTrue.map((_, i) => centres[i % centres.length]), yTrue: t.yTrue, logits: t.logits } },
  };
}

function results(): RunResult[] {
  const r = new Rng(3);
  const out: RunResult[] = [];
  for (const e of ['stl_afc', 'ft', 'mdmt'] as const) {
    for (const f of [0, 1, 2]) out.push(run(r, e, 'cv', f, CENTRES, 40 + f));
    CENTRES.forEach((c) => out.push(run(r, e, 'loco', c, [c], 25)));
  }
  return out;
}

test('per-centre metrics pool the folds\' test predictions by centre', () => {
  const res = results();
  const rows = centreRows(res);
  assert.is(rows.length, 2 * 3 * CENTRES.length, 'protocol × experiment × centre');
  for (const row of rows) {
    const yTrue: number[] = [], yPred: number[] = [];
    for (const r of res.filter((x) => x.protocol === row.protocol && x.experiment === row.experiment)) {
      const p = r.predictions!.afc!;
      p.centers.forEach((c, i) => {
        if (c !== row.centre) return;
        yTrue.push(p.yTrue[i]);
        yPred.push(p.logits[i][1] > p.logits[i][0] ? 1 : 0);
      });
    }
    const want = paperMetricsRef(yTrue, yPred, 2);
    assert.is(row.n, yTrue.length);
    for (const m of ['acc', 'f1', 'gmean'] as const) assert.ok(Math.abs(row.metrics[m] - want[m]) < 1e-12, `${row.protocol} ${row.experiment} ${row.centre} ${m}`);
  }
});

test('intervals across folds equal the float64 bootstrap reference; per run the estimate is the run metric', () => {
  const res = results();
  const iv = intervalRows(res, { resamples: 200, seed: 4 });
  const all = iv.find((x) => x.fold === 'all' && x.experiment === 'mdmt' && x.protocol === 'cv')!;
  const folds = res.filter((x) => x.experiment === 'mdmt' && x.protocol === 'cv').map((x) => {
    const p = x.predictions!.afc!;
    return { yTrue: p.yTrue, yPred: p.logits.map((z) => (z[1] > z[0] ? 1 : 0)), C: 2 };
  });
  const ref = bootstrapRef(folds, 200, 4);
  for (const m of ['acc', 'f1', 'gmean'] as const) {
    assert.ok(Math.abs(all.ci[m].lo - ref[m].lo) < 1e-12 && Math.abs(all.ci[m].hi - ref[m].hi) < 1e-12, m);
    assert.ok(Math.abs(all.ci[m].estimate - ref[m].estimate) < 1e-12);
  }
  for (const r of res) {
    const row = iv.find((x) => x.fold === String(r.fold) && x.experiment === r.experiment && x.protocol === r.protocol)!;
    assert.ok(Math.abs(row.ci.acc.estimate - r.metrics.acc) < 1e-12 && row.ci.acc.lo <= r.metrics.acc && r.metrics.acc <= row.ci.acc.hi);
  }
});

test('report.md shows ECE, the intervals and the per-centre tables; reliability diagrams are SVG', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-trust-'));
  const res = results();
  const rep = writeReport(res, out, { curves: false, bootstrap: { resamples: 100 } });
  for (const s of ['## Calibration', 'ECE before → after', '## Uncertainty', '95% CI', 'mean of folds', '## Per centre — CV', '## Per centre — LOCO'])
    assert.match(rep.markdown, s);
  for (const f of ['calibration.md', 'calibration.csv', 'intervals.md', 'intervals.csv', 'per_centre.csv', 'per_centre_cv.md', 'per_centre_loco.md'])
    assert.ok(fs.existsSync(path.join(out, f)), f);
  const svgs = fs.readdirSync(path.join(out, 'plots', 'reliability'));
  assert.is(svgs.length, res.length, 'one reliability diagram per run');
  const svg = reliabilitySvg(res[0]);
  assert.ok(svg.startsWith('<?xml') && svg.trim().endsWith('</svg>') && svg.includes('Reliability'));
  const flagged = rep.markdown.split('\n').filter((l) => l.startsWith('| resnet18') && l.includes('‡')).length;
  assert.is(flagged, res.filter((r) => [0.05, 20].some((b) => Math.abs(r.calibration!.afc!.temperature - b) < 1e-3)).length, 'bound temperatures flagged');
  const bound = [{ ...res[0], calibration: { afc: { ...res[0].calibration!.afc!, temperature: 0.05 } } }];
  assert.match(calibrationTables(bound)!.markdown, /0\.05 ‡[\s\S]*search range/, 'a temperature at the search bound is flagged');
  const cal = fs.readFileSync(path.join(out, 'calibration.csv'), 'utf8').trim().split('\n');
  assert.is(cal.length, 1 + 2 * res.length, 'val and test rows per run');
  fs.rmSync(out, { recursive: true, force: true });
});

test('a temperature kept at 1 by its cross-validated check shows the fit and the reason', () => {
  const r = results()[0];
  const cal = r.calibration!.afc!;
  const kept = [{ ...r, calibration: { afc: { ...cal, temperature: 1, fitted: 0.12, check: { n: 16, folds: 5, gain: 0.13, se: 0.15, decision: 'no held-out gain' as const } } } }];
  const t = calibrationTables(kept)!;
  assert.match(t.markdown, /\| 1\.00 § \(fit 0\.12\) \|[\s\S]*§ T kept at 1[^\n]*one standard error/);
  assert.match(t.csv.split('\n')[1], /,1,0\.12,no held-out gain,val,/);
  assert.match(reliabilitySvg(kept[0]), /kept at 1: the fit 0\.120 failed its check \(no held-out gain\)/);
  // an applied fit shows no mark
  const applied = [{ ...r, calibration: { afc: { ...cal, temperature: 1.7, fitted: 1.7, check: { n: 300, folds: 5, gain: 0.2, se: 0.01, decision: 'applied' as const } } } }];
  assert.not.match(calibrationTables(applied)!.markdown, /§/);
});

test('runs without stored test outputs give no trust sections', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-trust-'));
  const rep = writeReport(syntheticResults(), out, { curves: false });
  for (const s of ['## Calibration', '## Uncertainty', '## Per centre']) assert.not.match(rep.markdown, s);
  fs.rmSync(out, { recursive: true, force: true });
});

test("each run's figure has its own file when backbone names differ only in characters a file name cannot hold, or in case", () => {
  // 'a|b', 'a b' and 'A b' all became plots/curves/a_b_mdmt_cv_0.svg: the last figure over the others, every link to it
  const r = new Rng(5);
  const results = ['a|b', 'a b', 'A b'].map((backbone) => ({ ...run(r, 'mdmt', 'cv', 0, CENTRES, 20), backbone, history: [{ epoch: 1, trainLoss: 1, valLoss: 1, lr: 1e-3 }] }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-names-'));
  const { markdown } = writeReport(results, dir, { bootstrap: { resamples: 5 } });
  for (const sub of ['curves', 'reliability']) {
    const files = fs.readdirSync(path.join(dir, 'plots', sub)).sort();
    assert.equal(files, ['a_b_mdmt_cv_0.svg', 'a_b_mdmt_cv_0_2.svg', 'A_b_mdmt_cv_0_3.svg'].sort(), sub);
    for (const f of files) assert.ok(markdown.includes(`plots/${sub}/${f})`), `report.md links ${sub}/${f}`);
  }
  // the one with '|' is the first: its curve is its own
  assert.match(fs.readFileSync(path.join(dir, 'plots/curves/a_b_mdmt_cv_0.svg'), 'utf8'), 'a|b');
});

test("report.md links each run's figures under a text naming its backbone, brackets in names escaped", () => {
  // the reliability links read 'mdmt cv 0' for every backbone, and a backbone 'net[2]' ended a link's text
  const r = new Rng(6);
  const results = ['resnet18', 'net[2]'].map((backbone) => ({ ...run(r, 'mdmt', 'cv', 0, CENTRES, 20), backbone, history: [{ epoch: 1, trainLoss: 1, valLoss: 1, lr: 1e-3 }] }));
  const { markdown } = writeReport(results, fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-links-')), { bootstrap: { resamples: 5 } });
  for (const sub of ['curves', 'reliability']) {
    assert.ok(markdown.includes(`[resnet18 · mdmt · cv fold 0](plots/${sub}/resnet18_mdmt_cv_0.svg)`), sub);
    assert.ok(markdown.includes(`[net\\[2\\] · mdmt · cv fold 0](plots/${sub}/net_2__mdmt_cv_0.svg)`), sub);
  }
});

test.run();
