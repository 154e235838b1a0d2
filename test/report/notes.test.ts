// What the report says before its numbers (issue 15 §1, §6): a banner at the top naming the
// runs that began from random weights (not comparable with the paper) or did not record
// their initialisation; Table 2 cells over backbones with unequal finished folds marked † with
// a warning naming the fold counts; and a statement of whether μ is the mean of folds or the
// pooled confusion matrix (and where pooling fell back to the mean).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { oneClassTestWarnings, oneClassWarnings, skippedImagesWarnings, summarizeRuns, table2, untestedWarnings, writeReport } from '../../ts/report';
import type { RunResult } from '../../ts/report/types';
import { syntheticResults } from './synthetic';

const BB = ['densenet121', 'googlenet', 'resnet18', 'resnet50'];
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-notes-'));

test('every run from ImageNet: no banner, no warnings; μ stated as the mean of folds', () => {
  const all = syntheticResults({ backbones: BB }).map((r) => ({ ...r, imagenet: true }));
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { curves: false });
    assert.equal(r.warnings, []);
    assert.not.match(r.markdown, /Random initialisation|not recorded|†/);
    assert.match(r.markdown, /μ per backbone = mean of its fold metrics \(not pooled\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('random-init and unrecorded runs are named at the top of the report', () => {
  const all: RunResult[] = syntheticResults({ backbones: BB }).map((r) => ({ ...r, imagenet: r.backbone === 'googlenet' ? false : r.backbone === 'resnet50' ? undefined : true }));
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { curves: false });
    const top = r.markdown.split('## Table 1')[0];
    const random = all.filter((x) => x.imagenet === false).length;
    assert.match(top, new RegExp(`\\*\\*Random initialisation: not comparable with the paper\\.\\*\\* ${random} of ${all.length} runs began from random weights`));
    assert.match(top, /> - googlenet: CV STL τ1 \(5 folds\), LOCO STL τ1 \(6 folds\), CV STL τ2 \(5 folds\)/);
    assert.match(top, new RegExp(`\\*\\*Initialisation not recorded\\*\\* for ${all.filter((x) => x.imagenet === undefined).length} of ${all.length} runs`));
    assert.match(top, /> - resnet50: /);
    assert.not.match(top, /densenet121:|resnet18:/, 'ImageNet runs are not listed');
    assert.ok(r.markdown.indexOf('Random initialisation') < r.markdown.indexOf('## Table 1'), 'before the tables');
    assert.match(r.warnings[0], /runs did not begin from ImageNet/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('runs that left unreadable images out (skip mode) are named above Table 1', () => {
  const all: RunResult[] = syntheticResults({ backbones: BB }).map((r) => ({ ...r, imagenet: true }));
  const gone = { part: 'test' as const, task: 'AFC' as const, id: 'P_7', file: '/d/P_7.dcm', error: 'truncated' };
  all.filter((r) => r.backbone === 'resnet18' && r.protocol === 'cv').forEach((r) => (r.skipped = [gone, { ...gone, part: 'train', id: 'P_8' }]));
  const n = all.filter((r) => r.skipped).length;
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { curves: false });
    const w = `${n} runs left out unreadable images (--skip-bad; 2 images, ${n} test records in all; each run's result.json lists them), so their test metrics cover fewer records than their split files: resnet18: CV`;
    assert.ok(r.warnings.some((x) => x.startsWith(w)), r.warnings.join('\n'));
    assert.ok(r.markdown.split('## Table 2')[0].includes(`> **Warning:** ${w}`), 'above Table 1');
    // none of them a test record: the test metrics are complete, and said so
    all.forEach((x) => x.skipped && (x.skipped = x.skipped.map((b) => ({ ...b, part: 'train' as const }))));
    assert.match(skippedImagesWarnings(all)[0], '0 test records in all; each run\'s result.json lists them), none of them a test record, so the test metrics are complete');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('runs whose model predicts one class for the whole test set are named (the demo\'s CV runs at 32 px did, silently)', () => {
  const all: RunResult[] = syntheticResults({ backbones: BB }).map((r) => ({ ...r, imagenet: true }));
  assert.equal(oneClassWarnings(all), []);
  const collapsed = all.filter((r) => r.backbone === 'googlenet' && r.protocol === 'cv' && r.experiment === 'mdmt');
  collapsed.forEach((r) => (r.cm = [[26, 0], [17, 0]]));
  assert.equal(oneClassWarnings(all), [`${collapsed.length} runs predict one class for the whole test set (confusion matrix with one non-empty column: too short a training, or too small images), so their ACC is that class's share and F1/G-mean say little: googlenet: CV MDMT (${collapsed.length} folds)`]);
});

test('folds whose test set holds one class are named: G-mean is 0 there for every model and enters Table 1 as 0', () => {
  // a LOCO centre whose films are all MILD: imblearn's weighted G-mean (the paper's metric) is
  // sqrt(ACC · specificity) and the class has no negatives, so every model scores 0 there. The
  // per-centre table showed it as '–' (undefined) while Table 1 averaged the 0 in, unsaid.
  const all: RunResult[] = syntheticResults({ backbones: BB }).map((r) => ({ ...r, imagenet: true }));
  assert.equal(oneClassTestWarnings(all), []);
  const mild = all.filter((r) => r.protocol === 'loco' && String(r.fold) === '3' && r.experiment !== 'stl_bx');
  mild.forEach((r) => { r.cm = [[20, 4], [0, 0]]; r.metrics = { acc: 20 / 24, f1: 2 * (20 / 24) / (1 + 20 / 24), gmean: 0 }; });
  const w = oneClassTestWarnings(all);
  assert.is(w.length, 1, w.join('\n'));
  assert.match(w[0], /^the test set of LOCO centre 3 \(τ1\) holds one class only \(MILD\)/);
  assert.match(w[0], new RegExp(`G-mean is 0 there for every model .* and enters the tables as 0 \\(${mild.length} runs\\)`));
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { curves: false });
    assert.ok(r.warnings.includes(w[0]!), r.warnings.join('\n'));
    assert.ok(r.markdown.split('## Table 1')[1]!.split('| Experiment |')[0]!.includes(`> **Warning:** ${w[0]}`), 'above Table 1');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a partial sweep marks its Table 2 cells and warns with the fold counts', () => {
  // resnet18's MDMT finished 3 of 5 CV folds; LOCO complete
  const all = syntheticResults({ backbones: BB }).filter((r) => !(r.backbone === 'resnet18' && r.experiment === 'mdmt' && r.protocol === 'cv' && Number(r.fold) >= 3))
    .map((r) => ({ ...r, imagenet: true }));
  const cells = table2(summarizeRuns(all));
  for (const c of cells) assert.is(c.partial, c.protocol === 'cv', `${c.protocol} ${c.stat} ${c.baseline} ${c.metric}`);
  assert.equal(cells.find((c) => c.protocol === 'cv')!.folds.resnet18, { target: 3, baseline: 5 });
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { curves: false });
    const t2w = r.warnings.filter((w) => w.startsWith('Table 2'));
    assert.is(t2w.length, 2, 'one per CV baseline');
    assert.match(t2w[0], /Table 2 CV, MDMT vs STL τ1: partial sweep, finished folds differ \(.*resnet18 MDMT 3 \/ STL τ1 5/);
    assert.ok(r.warnings.includes('Table 1 CV MDMT: partial sweep, resnet18 lacks folds 3, 4 (has 3 of 5); the marked cells (†) average unequal evidence and are not ranked above complete ones'));
    const star = r.markdown.split('\n').find((l) => l.startsWith('| μ ↑ | MDMT vs STL τ1 |'))!.split('|').slice(3, 9).map((s) => s.trim());
    assert.ok(star.slice(0, 3).every((s) => s.endsWith(' †')), `CV cells marked: ${star}`);
    assert.ok(star.slice(3).every((s) => !s.includes('†')), `LOCO cells not marked: ${star}`);
    assert.match(r.markdown, /> \*\*Warning:\*\* Table 2 CV, MDMT vs FT: partial sweep/);
    assert.match(r.markdown, /† partial sweep: the backbones paired in this cell/);
    const csv = fs.readFileSync(path.join(dir, 'table2.csv'), 'utf8').trim().split('\n');
    assert.ok(csv[0].endsWith(',partial'));
    assert.ok(csv.slice(1).every((l) => l.endsWith(l.startsWith('cv,') ? ',1' : ',0')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pooled μ is stated as such, naming summaries that fell back to the fold mean', () => {
  const cm = [[3, 1], [1, 5]];
  const all: RunResult[] = [0, 1].flatMap((fold) => ['stl_afc', 'mdmt'].map((experiment) => ({
    backbone: 'x', experiment: experiment as RunResult['experiment'], protocol: 'cv' as const, fold, imagenet: true,
    metrics: { acc: 0.8, f1: 0.8, gmean: 0.8 }, ...(experiment === 'mdmt' ? { cm } : {}),
  })));
  const s = summarizeRuns(all, { mu: 'pooled' });
  assert.equal(s.map((x) => `${x.experiment} ${x.mu}`).sort(), ['mdmt pooled', 'stl_afc folds']);
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { mu: 'pooled', curves: false });
    assert.match(r.markdown, /μ per backbone = metric of its confusion matrices pooled over folds \(not the mean of folds\).*Mean of folds instead where a fold lacks its confusion matrix: x CV STL τ1\./);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a fold without test records of a task is named once as such, not as random-init or σ-undefined noise (mdmt demo --data covid-cxr: LOCO STL τ2 on github.com)', () => {
  const ok = { acc: 0.6, f1: 0.5, gmean: 0.55 }, nan = { acc: NaN, f1: NaN, gmean: NaN };
  const all: RunResult[] = (['cv', 'loco'] as const).flatMap((protocol) => (['stl_afc', 'stl_bx', 'ft', 'mdmt'] as const).map((experiment): RunResult => {
    const untested = protocol === 'loco' && experiment === 'stl_bx';
    return {
      backbone: 'x', experiment, protocol, fold: protocol === 'cv' ? 0 : 'github.com', imagenet: false,
      metrics: untested ? nan : ok, cm: untested ? [] : [[3, 1], [1, 5]],
      ...(experiment === 'mdmt' ? { bxMetrics: protocol === 'loco' ? nan : ok } : {}),
    };
  }));
  const named = 'no τ2 test records in centre github.com: x LOCO STL τ2, x LOCO MDMT (τ2 head); no metrics of that task, left out of its tables';
  assert.equal(untestedWarnings(all), [named]);
  assert.not.ok(summarizeRuns(all).some((s) => s.protocol === 'loco' && s.experiment === 'stl_bx'), 'no summary of NaN folds');
  const dir = tmp();
  try {
    const r = writeReport(all, dir, { curves: false });
    assert.ok(r.warnings.includes(named), r.warnings.join('\n'));
    assert.is(r.warnings[0], '7 of 7 runs did not begin from ImageNet (random or unrecorded initialisation): not comparable with the paper');
    const top = r.markdown.split('## Table 1')[0];
    assert.match(top, '7 of 7 runs began from random weights');
    assert.match(top, '> - x: CV STL τ1 (1 fold), CV STL τ2 (1 fold), CV FT (1 fold), CV MDMT (1 fold), LOCO STL τ1 (1 fold), LOCO FT (1 fold), LOCO MDMT (1 fold)\n');
    const sigma = r.warnings.find((w) => w.startsWith('σ undefined'))!;
    assert.ok(sigma && !sigma.includes('LOCO STL τ2'), sigma);
    assert.is(r.markdown.split('no τ2 test records').length, 2, 'named once');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
