// Report generation from a synthetic result set whose fold metrics are known in closed form
// (test/report/synthetic.ts): Table 1 / Table 2 numbers recomputed independently here,
// Markdown/CSV contents, and well-formed standalone SVG for every plot.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { perBackboneMarkdown, summarizeRuns, svgToPng, table1, table1Markdown, table2, toCsv, writeReport } from '../../ts/report';
import { learningCurveSvg } from '../../ts/report/plots';
import { niceTicks } from '../../ts/report/svg';
import { centreMarkdown, type CentreRow } from '../../ts/report/uncertainty';
import type { Experiment, Protocol, RunResult } from '../../ts/report/types';
import { stars, ttestRel } from '../../ts/train/stats';
import { BACKBONES, FOLDS, metricValue, syntheticResults } from './synthetic';

const close = (a: number, b: number, tol = 1e-12, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b}`);
const METRICS = ['acc', 'f1', 'gmean'];

// Independent reference: per-backbone fold mean and population std straight from the generator.
function foldStats(b: number, e: Experiment, p: Protocol, m: number, ddof = 0): { mean: number; std: number } {
  const v = Array.from({ length: FOLDS[p] }, (_, f) => metricValue(b, e, p, f, m));
  const mean = v.reduce((a, c) => a + c, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, c) => a + (c - mean) ** 2, 0) / (v.length - ddof)) };
}
const avg = (v: number[]) => v.reduce((a, c) => a + c, 0) / v.length;

/** Minimal well-formedness check: balanced tags, quoted attributes, escaped text. */
function assertWellFormedSvg(svg: string, name: string): void {
  assert.ok(svg.startsWith('<?xml'), `${name}: prolog`);
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0, m: RegExpExecArray | null, roots = 0;
  while ((m = tag.exec(body))) {
    const text = body.slice(last, m.index);
    assert.not.match(text, /[<>]|&(?!amp;|lt;|gt;|quot;)/, `${name}: unescaped text ${JSON.stringify(text.slice(0, 40))}`);
    last = tag.lastIndex;
    if (m[1]) assert.is(stack.pop(), m[2], `${name}: closing ${m[2]}`);
    else if (!m[4]) { if (stack.length === 0) roots++; stack.push(m[2]!); }
  }
  assert.is(body.slice(last).trim(), '', `${name}: trailing content or an unparsable tag`);
  assert.equal(stack, [], `${name}: unclosed tags`);
  assert.is(roots, 1, `${name}: single root`);
  assert.match(body, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="\d+"/);
  assert.not.match(body, /NaN|Infinity|undefined/, `${name}: non-finite numbers`);
}

const results = syntheticResults({ withHistory: true });

test('per-backbone summaries: fold mean and std (ddof 0 default, 1 optional)', () => {
  const s = summarizeRuns(results);
  assert.is(s.length, BACKBONES.length * 4 * 2);
  const r = s.find((x) => x.backbone === BACKBONES[3] && x.experiment === 'ft' && x.protocol === 'loco')!;
  assert.is(r.folds, 6);
  const ref = foldStats(3, 'ft', 'loco', 1);
  close(r.metrics.f1!.mean, ref.mean); close(r.metrics.f1!.std, ref.std);
  const s1 = summarizeRuns(results, { ddof: 1 }).find((x) => x.backbone === BACKBONES[3] && x.experiment === 'ft' && x.protocol === 'loco')!;
  close(s1.metrics.f1!.std, foldStats(3, 'ft', 'loco', 1, 1).std);
  assert.throws(() => summarizeRuns([...results, results[0]!]), /appears twice/);
});

test('Table 1: averages over backbones of fold mean and fold std', () => {
  const t = table1(summarizeRuns(results));
  for (const e of ['stl_afc', 'ft', 'mdmt'] as Experiment[]) {
    for (const p of ['cv', 'loco'] as Protocol[]) {
      METRICS.forEach((m, mi) => {
        const per = BACKBONES.map((_, b) => foldStats(b, e, p, mi));
        const c = t[e]![p]![m]!;
        close(c.mean, avg(per.map((x) => x.mean)), 1e-12, `${e} ${p} ${m} mean`);
        close(c.std, avg(per.map((x) => x.std)), 1e-12, `${e} ${p} ${m} std`);
        assert.is(c.backbones, BACKBONES.length);
      });
    }
  }
  assert.is(t.stl_bx, undefined); // τ2 runs are not part of Table 1
});

test('Table 2: one-tailed paired t-tests across backbones, as ttest_rel(base, mdmt, "less")', () => {
  const c = table2(summarizeRuns(results));
  assert.is(c.length, 2 * 2 * 2 * 3);
  for (const x of c) {
    const mi = METRICS.indexOf(x.metric);
    const md = BACKBONES.map((_, b) => foldStats(b, 'mdmt', x.protocol as Protocol, mi)[x.stat]);
    const base = BACKBONES.map((_, b) => foldStats(b, x.baseline as Experiment, x.protocol as Protocol, mi)[x.stat]);
    const ref = x.stat === 'mean' ? ttestRel(base, md, 'less') : ttestRel(md, base, 'less');
    close(x.t.pvalue, ref.pvalue, 1e-12, `${x.stat} ${x.baseline} ${x.protocol} ${x.metric}`);
    assert.is(x.stars, stars(ref.pvalue));
    assert.is(x.n, BACKBONES.length);
  }
});

test('writeReport: files, Markdown tables with the right numbers, CSV, well-formed SVG', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-report-'));
  try {
    const { markdown, files } = writeReport(results, dir);
    for (const f of ['report.md', 'table1.md', 'table1.csv', 'table2.md', 'table2.csv', 'per_backbone.csv', 'per_backbone_cv.md', 'per_backbone_loco.md', 'plots/bars_cv.svg', 'plots/bars_loco.svg']) {
      assert.ok(files.includes(path.resolve(dir, f)), `missing ${f}`);
      assert.ok(fs.statSync(path.join(dir, f)).size > 100, `${f} is nearly empty`);
    }
    const curves = files.filter((f) => f.includes(`${path.sep}curves${path.sep}`));
    assert.is(curves.length, BACKBONES.length * 4); // fold 0 of CV has a history for each experiment
    assert.match(markdown, `${results.length} runs, ${BACKBONES.length} backbones. Metrics on τ1`);
    assert.match(markdown, /## Table 1/);
    assert.match(markdown, /## Table 2/);
    // MDMT CV ACC cell: μ̄ ± σ̄ in % with one decimal
    const per = BACKBONES.map((_, b) => foldStats(b, 'mdmt', 'cv', 0));
    const cell = `${(100 * avg(per.map((x) => x.mean))).toFixed(1)} ± ${(100 * avg(per.map((x) => x.std))).toFixed(1)}`;
    const mdmtRow = markdown.split('\n').find((l) => l.startsWith('| MDMT |'))!;
    assert.ok(mdmtRow.includes(cell), `${mdmtRow} lacks ${cell}`);
    // Table 2 star row for μ, MDMT vs STL τ1 carries the stars of each test
    const c = table2(summarizeRuns(results));
    const starRow = markdown.split('\n').find((l) => l.startsWith('| μ ↑ | MDMT vs STL τ1 |'))!;
    const cells = starRow.split('|').slice(3, 9).map((s) => s.trim());
    const expected = ['cv', 'loco'].flatMap((p) => METRICS.map((m) => c.find((x) => x.stat === 'mean' && x.baseline === 'stl_afc' && x.protocol === p && x.metric === m)!.stars || '–'));
    assert.equal(cells, expected);
    // CSV: header and one row per experiment × protocol × metric
    const t1 = fs.readFileSync(path.join(dir, 'table1.csv'), 'utf8').trim().split('\n');
    assert.is(t1[0], 'experiment,protocol,metric,backbones,mean,mean_fold_std,std_across_backbones,std_backbones,partial');
    assert.is(t1.length, 1 + 3 * 2 * 3);
    const row = t1.find((l) => l.startsWith('mdmt,cv,acc,'))!.split(',');
    close(Number(row[4]), avg(per.map((x) => x.mean)), 1e-15);
    assert.is(fs.readFileSync(path.join(dir, 'table2.csv'), 'utf8').trim().split('\n').length, 1 + 24);
    // τ2: STL τ2 and MDMT's τ2 head (generator: MDMT τ2 = STL τ2 + 0.2 points on every fold)
    assert.match(markdown, /## τ2 \(BRIXIA/);
    const t2 = fs.readFileSync(path.join(dir, 'table_tau2.md'), 'utf8').split('\n');
    const stl2 = avg(BACKBONES.map((_, b) => foldStats(b, 'stl_bx', 'cv', 0).mean));
    assert.ok(t2.find((l) => l.startsWith('| STL τ2 |'))!.includes(`${(100 * stl2).toFixed(1)} ±`));
    assert.ok(t2.find((l) => l.startsWith('| MDMT |'))!.includes(`${(100 * (stl2 + 0.002)).toFixed(1)} ±`));
    for (const f of files.filter((f) => f.endsWith('.svg'))) assertWellFormedSvg(fs.readFileSync(f, 'utf8'), path.basename(f));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the headline counts in the singular for one run of one backbone', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-report-one-'));
  try {
    const one = results.filter((r) => r.backbone === BACKBONES[0] && r.experiment === 'mdmt' && r.protocol === 'cv').slice(0, 1);
    assert.match(writeReport(one, dir).markdown, '1 run, 1 backbone. Metrics on τ1');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('with --mu pooled the τ2 section says its μ is the fold mean, which is what it shows', () => {
  // the only μ statement said "pooled over folds" while the τ2 table averaged the folds
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-report-tau2mu-'));
  try {
    const withCm = results.map((r) => ({ ...r, cm: [[3, 1], [1, 5]] }));
    const md = writeReport(withCm, dir, { mu: 'pooled', curves: false }).markdown;
    const tau2 = md.slice(md.indexOf('## τ2 (BRIXIA'));
    assert.match(tau2, 'μ per backbone = mean of its fold metrics');
    const stl2 = avg(BACKBONES.map((_, b) => foldStats(b, 'stl_bx', 'cv', 0).mean));
    assert.ok(tau2.split('\n').find((l) => l.startsWith('| STL τ2 |'))!.includes(`${(100 * stl2).toFixed(1)} ±`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pooled μ from confusion matrices, missing experiments, empty history', () => {
  const cmA = [[3, 1], [1, 5]], cmB = [[4, 0], [2, 4]];
  const one = { epoch: 1, trainLoss: 1, valLoss: 1, lr: 0 };
  const runs: RunResult[] = [
    { backbone: 'y', experiment: 'ft', protocol: 'loco', fold: 'A', metrics: { acc: 0.5, f1: 0.5, gmean: 0.5 }, history: [one] },
    { backbone: 'x', experiment: 'mdmt', protocol: 'cv', fold: 0, metrics: { acc: 0.8, f1: 0.8, gmean: 0.8 }, cm: cmA, history: [] },
    { backbone: 'x', experiment: 'mdmt', protocol: 'cv', fold: 1, metrics: { acc: 0.8, f1: 0.8, gmean: 0.8 }, cm: cmB },
  ];
  const pooled = summarizeRuns(runs, { mu: 'pooled' }).find((s) => s.backbone === 'x')!;
  assert.is(pooled.experiment, 'mdmt');
  close(pooled.metrics.acc!.mean, 16 / 20); // (3+5+4+4)/20
  const c = table2(summarizeRuns(runs));
  assert.ok(c.every((x) => x.n === 0 && x.stars === ''));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-report-'));
  try {
    const { files } = writeReport(runs, dir);
    for (const f of files.filter((f) => f.endsWith('.svg'))) assertWellFormedSvg(fs.readFileSync(f, 'utf8'), path.basename(f));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a learning curve shades the run\'s own warm-up (the paper\'s 40 only for runs that did not store one)', () => {
  const history = Array.from({ length: 60 }, (_, i) => ({ epoch: i + 1, trainLoss: 1 / (i + 1), valLoss: 1 / (i + 1), lr: 1e-3 }));
  const run = { backbone: 'resnet18', experiment: 'stl_afc' as const, protocol: 'cv' as const, fold: 0, metrics: { acc: 1, f1: 1, gmean: 1 }, history };
  const shadeWidth = (svg: string) => Number(/<rect [^>]*width="([\d.]+)"[^>]*fill-opacity="0.07"/.exec(svg)![1]);
  const w2 = shadeWidth(learningCurveSvg({ ...run, warmupEpochs: 2 })), w40 = shadeWidth(learningCurveSvg(run));
  close(w2 / w40, 2 / 40, 0.02);
  close(shadeWidth(learningCurveSvg({ ...run, warmupEpochs: 2 }, { warmupEpochs: 40 })), w40, 1e-9, 'an explicit --warmup wins');
});

test('svgToPng rasterises a figure (sharp, already a dependency)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-report-'));
  try {
    const { files } = writeReport(syntheticResults({ backbones: BACKBONES.slice(0, 3) }), dir, { curves: false });
    const [png] = await svgToPng(files.filter((f) => f.endsWith('bars_cv.svg')), { density: 48 });
    const buf = fs.readFileSync(png!);
    assert.equal([...buf.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    assert.ok(buf.readUInt32BE(16) > 100 && buf.readUInt32BE(20) > 100, 'IHDR size');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bold marks every cell that ties for best at the printed precision (one decimal of %), not only the largest unrounded one', () => {
  // FT 0.7362 and MDMT 0.7358 both print 73.6: only FT was bold, and a reader could not see why
  const run = (backbone: string, experiment: Experiment, fold: number, acc: number): RunResult => ({
    backbone, experiment, protocol: 'cv', fold, imagenet: true, metrics: { acc, f1: acc, gmean: acc },
  });
  const res = ['resnet18', 'mobilenet_v2'].flatMap((b) => [0, 1].flatMap((f) => [
    run(b, 'stl_afc', f, 0.70), run(b, 'ft', f, 0.7362), run(b, 'mdmt', f, 0.7358),
  ]));
  const cells = (md: string, label: string) => md.split('\n').find((l) => l.startsWith(`| ${label} |`))!.split('|').slice(1, -1).map((c) => c.trim());
  const s = summarizeRuns(res);
  const t1 = table1Markdown(table1(s));
  for (const e of ['FT', 'MDMT']) assert.ok(cells(t1, e).slice(1, 4).every((c) => c.startsWith('**73.6 ± 0.0')), `Table 1 ${e}: ${cells(t1, e).join(' | ')}`);
  assert.ok(cells(t1, 'STL τ1').slice(1).every((c) => !c.includes('**')), 'the lower row is not bold');
  const per = perBackboneMarkdown(s, 'cv');
  for (const b of ['resnet18', 'mobilenet_v2']) {
    const r = cells(per, b); // backbone, then ACC (STL, FT, MDMT), F1 (…), G-mean (…)
    assert.equal([1, 2, 3].map((i) => r[i]!.startsWith('**')), [false, true, true], `${b}: ${r.join(' | ')}`);
  }
  // and the weakest centre of the per-centre tables likewise
  const centre = (c: string, acc: number): CentreRow => ({ protocol: 'cv', backbone: 'resnet18', experiment: 'stl_afc', centre: c, n: 10, classes: 2, metrics: { acc, f1: acc, gmean: acc } });
  const md = centreMarkdown([centre('A', 0.6004), centre('B', 0.5996), centre('C', 0.7)], 'cv', ['stl_afc']);
  const line = (c: string) => md.split('\n').find((l) => l.startsWith(`| resnet18 | ${c} |`))!;
  assert.match(line('A'), /\| \*\*60\.0\*\* \|$/, line('A'));
  assert.match(line('B'), /\| \*\*60\.0\*\* \|$/, line('B'));
  assert.not.match(line('C'), /\*\*/);
});

test('a value compared with nothing is not bold: one experiment of a row or column, one centre of a backbone', () => {
  // the τ2 table of STL τ2 runs alone, Table 1 of STL τ1 runs alone and a CV test set of one centre were bold in every cell
  const cells = (md: string, label: string) => md.split('\n').find((l) => l.startsWith(`| ${label} |`))!.split('|').slice(1, -1).map((c) => c.trim());
  const res = ['resnet18', 'mobilenet_v2'].flatMap((backbone, b) => [0, 1].map((fold): RunResult => ({
    backbone, experiment: 'stl_afc', protocol: 'cv', fold, imagenet: true, metrics: { acc: 0.6 + 0.01 * b, f1: 0.6, gmean: 0.6 },
  })));
  const s = summarizeRuns(res);
  assert.not.match(table1Markdown(table1(s)), /\*\*/);
  assert.not.match(table1Markdown(table1(s, ['stl_afc']), ['stl_afc']), /\*\*/);
  const per = perBackboneMarkdown(s, 'cv');
  assert.not.match(per, /\*\*/, per);
  assert.is(cells(per, 'mobilenet_v2')[1], '61.0 ± 0.0');
  const centre = (c: string, acc: number): CentreRow => ({ protocol: 'cv', backbone: 'resnet18', experiment: 'stl_afc', centre: c, n: 10, classes: 2, metrics: { acc, f1: acc, gmean: acc } });
  assert.not.match(centreMarkdown([centre('A', 0.6)], 'cv', ['stl_afc']), /\*\*/);
  // with a second experiment or centre to compare with, the best and the weakest are bold again
  const two = summarizeRuns([...res, ...res.map((r) => ({ ...r, experiment: 'mdmt' as const, metrics: { acc: 0.7, f1: 0.7, gmean: 0.7 } }))]);
  assert.is(cells(table1Markdown(table1(two)), 'MDMT')[1], '**70.0 ± 0.0**');
  assert.match(centreMarkdown([centre('A', 0.6), centre('B', 0.7)], 'cv', ['stl_afc']), /\| A \| 10 \| \*\*60\.0\*\* \|/);
});

test('report.md says what bold marks and what the metric abbreviations stand for', () => {
  // Table 1 and the per-backbone tables were bold without a word on what bold meant, and GM was never spelt out
  const r = writeReport(syntheticResults({ backbones: ['resnet18', 'mobilenet_v2'] }), fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-legend-')), { curves: false });
  const top = r.markdown.split('## Table 1')[0]!;
  assert.match(top, 'ACC: accuracy, F1: F1 weighted by class support, GM: G-mean');
  assert.match(top, /Bold: the best μ̄ of each column of Table 1, and the best experiment per backbone and metric in the per-backbone tables, as printed \(every cell that ties for it\)\./);
});

test('CSV quoting and nice ticks', () => {
  assert.is(toCsv(['a', 'b'], [['x,y', 'say "hi"'], [1.5, NaN]]), 'a,b\n"x,y","say ""hi"""\n1.5,\n');
  // a carriage return (a centre name from a Windows-edited labels file) is quoted too
  assert.is(toCsv(['centre'], [['Centro\r\nSud'], ['x\ry']]), 'centre\n"Centro\r\nSud"\n"x\ry"\n');
  assert.equal(niceTicks(0, 107, 8), [0, 20, 40, 60, 80, 100, 120]);
  assert.equal(niceTicks(52.3, 71.8, 5), [50, 55, 60, 65, 70, 75]);
});

test.run();
