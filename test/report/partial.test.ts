// What Tables 1 and 2 are built from when a sweep is not whole (QA audit): Table 1 and the
// per-backbone cells over fewer backbones or folds than the sweep's others are marked † and
// never bold over complete cells, report.md names what each backbone lacks and the run
// directories that never finished; σ of a single fold is undefined ('–'), left out of σ̄ (‡)
// and of the σ tests; Table 2 tells "not computable" (n/a, with the reason) from "not
// significant" (–); and an empty --out is a usage error, not the working directory.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCodeOf } from '../../ts/cli/main';
import { reportRuns } from '../../ts/cli/report';
import { MdmtError } from '../../ts/errors';
import { resolveTrainConfig } from '../../ts/train/config';
import { perBackboneMarkdown, summarizeRuns, table1, table1Markdown, table2, table2Markdown, writeReport } from '../../ts/report';
import { fmtP } from '../../ts/report/tables';
import { stars } from '../../ts/train/stats';
import type { Experiment, Protocol, RunResult } from '../../ts/report/types';
import { tmpDir } from '../train/_fixture';

const run = (backbone: string, experiment: Experiment, protocol: Protocol, fold: number | string, acc: number): RunResult => ({
  backbone, experiment, protocol, fold, imagenet: true, metrics: { acc, f1: acc - 0.01, gmean: acc - 0.02 },
});
/** The Markdown row of `label` in `md`, split into its trimmed cells (label first). */
const row = (md: string, label: string) => md.split('\n').find((l) => l.startsWith(`| ${label} |`))!.split('|').slice(1, -1).map((s) => s.trim());
const close = (a: number, b: number, msg = '') => assert.ok(Math.abs(a - b) < 1e-12, `${msg} ${a} vs ${b}`);

// 2 backbones × 2 CV folds; mobilenet_v2's FT fold 0 is missing, and FT's average over what is
// there is the highest of the column
const twoByTwo: RunResult[] = [
  run('resnet18', 'stl_afc', 'cv', 0, 0.60), run('resnet18', 'stl_afc', 'cv', 1, 0.62),
  run('resnet18', 'ft', 'cv', 0, 0.70), run('resnet18', 'ft', 'cv', 1, 0.72),
  run('resnet18', 'mdmt', 'cv', 0, 0.65), run('resnet18', 'mdmt', 'cv', 1, 0.66),
  run('mobilenet_v2', 'stl_afc', 'cv', 0, 0.60), run('mobilenet_v2', 'stl_afc', 'cv', 1, 0.61),
  run('mobilenet_v2', 'ft', 'cv', 1, 0.75),
  run('mobilenet_v2', 'mdmt', 'cv', 0, 0.64), run('mobilenet_v2', 'mdmt', 'cv', 1, 0.66),
];

test('Table 1: a cell over a backbone with a missing fold is marked †, not bold over complete cells, and named', () => {
  const s = summarizeRuns(twoByTwo);
  const t = table1(s);
  // the numbers are what they were: mean over backbones of each backbone's fold mean
  close(t.ft!.cv!.acc!.mean, (0.71 + 0.75) / 2, 'FT CV ACC μ̄');
  assert.is(t.ft!.cv!.acc!.partial, true);
  assert.is(t.mdmt!.cv!.acc!.partial, false);
  assert.is(t.stl_afc!.cv!.acc!.partial, false);
  const md = table1Markdown(t);
  const [, ...ft] = row(md, 'FT'), [, ...mdmt] = row(md, 'MDMT');
  assert.ok(ft.slice(0, 3).every((c) => c.includes('†') && !c.startsWith('**')), `FT cells marked, not bold: ${ft}`);
  assert.ok(mdmt.slice(0, 3).every((c) => c.startsWith('**') && !c.includes('†')), `best complete cell bold: ${mdmt}`);
  assert.match(md, /† partial: averages fewer backbones or folds than the sweep's others/);
  // per-backbone: mobilenet_v2's FT cells marked and not ranked; resnet18's row untouched
  const per = perBackboneMarkdown(s, 'cv');
  const mob = row(per, 'mobilenet_v2');
  assert.ok([2, 5, 8].every((i) => mob[i]!.includes('†') && !mob[i]!.includes('**')), `mobilenet_v2 FT: ${mob}`);
  assert.ok([3, 6, 9].every((i) => mob[i]!.startsWith('**')), `mobilenet_v2 MDMT is the best complete: ${mob}`);
  assert.ok(row(per, 'resnet18').every((c) => !c.includes('†')));
  // report.md and the warnings name what is missing
  const dir = tmpDir('rep-partial');
  const r = writeReport(twoByTwo, dir, { curves: false });
  assert.ok(r.warnings.includes('Table 1 CV FT: partial sweep, mobilenet_v2 lacks fold 0 (has 1 of 2); the marked cells (†) average unequal evidence and are not ranked above complete ones'), r.warnings.join('\n'));
  const top = r.markdown.split('## Table 2')[0]!;
  assert.match(top, /> \*\*Warning:\*\* Table 1 CV FT: partial sweep, mobilenet_v2 lacks fold 0 \(has 1 of 2\)/);
  assert.match(fs.readFileSync(path.join(dir, 'table1.md'), 'utf8'), /FT \| 73\.0 ± 1\.0‡ † \|/);
  const csv = fs.readFileSync(path.join(dir, 'table1.csv'), 'utf8').trim().split('\n');
  assert.ok(csv[0]!.endsWith(',std_backbones,partial'));
  const ftCsv = csv.find((l) => l.startsWith('ft,cv,acc,'))!.split(',');
  assert.equal([ftCsv[3], ftCsv.at(-2), ftCsv.at(-1)], ['2', '1', '1'], 'backbones, std_backbones, partial');
});

test('Table 1: a whole LOCO group missing for one backbone marks the cell (2 backbones against 3), same μ̄', () => {
  const bbs = ['densenet121', 'resnet18', 'resnet50'];
  const all = bbs.flatMap((b, i) => (['stl_afc', 'ft', 'mdmt'] as const).flatMap((e) => ['A', 'B'].map((f, k) => run(b, e, 'loco', f, 0.5 + 0.05 * i + 0.01 * k))))
    .filter((r) => !(r.backbone === 'resnet50' && r.experiment === 'ft'));
  const t = table1(summarizeRuns(all));
  assert.is(t.ft!.loco!.acc!.backbones, 2);
  close(t.ft!.loco!.acc!.mean, (0.505 + 0.555) / 2, 'average of the two backbones there');
  assert.is(t.ft!.loco!.acc!.partial, true);
  assert.is(t.mdmt!.loco!.acc!.partial, false);
  const dir = tmpDir('rep-partial-loco');
  const r = writeReport(all, dir, { curves: false });
  assert.ok(r.warnings.some((w) => w.startsWith('Table 1 LOCO FT: partial sweep, resnet50 lacks all 2 folds (no run)')), r.warnings.join('\n'));
  assert.ok(row(r.markdown, 'FT').slice(4).every((c) => c.endsWith(' †')), row(r.markdown, 'FT').join(' | '));
  // a whole sweep: nothing marked, nothing said
  const varied = bbs.flatMap((b, i) => (['stl_afc', 'ft', 'mdmt'] as const).flatMap((e, j) => ['A', 'B'].map((f, k) => run(b, e, 'loco', f, 0.6 + 0.01 * k * (i + 1) * (j + 1) + 0.01 * i * j))));
  const whole = writeReport([...varied, ...varied.map((r) => ({ ...r, protocol: 'cv' as const }))], tmpDir('rep-whole'), { curves: false });
  assert.equal(whole.warnings, []);
  assert.not.match(whole.markdown, /†|‡|n\/a/);
});

test('mdmt report lists run directories with a checkpoint or a config train() wrote but no result.json, not a config.json of the user\'s', () => {
  const dir = tmpDir('rep-unfinished');
  for (const r of twoByTwo) {
    const f = path.join(dir, r.protocol, r.backbone, r.experiment, `fold${r.fold}`, 'result.json');
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, JSON.stringify({ result: r }));
  }
  const ck = path.join(dir, 'cv', 'mobilenet_v2', 'ft', 'fold0');
  fs.mkdirSync(ck, { recursive: true });
  fs.writeFileSync(path.join(ck, 'checkpoint.safetensors'), 'x');
  fs.writeFileSync(path.join(ck, 'config.json'), '{}');
  // a run that failed before its first epoch: only the config.json train() wrote
  const started = path.join(dir, 'cv', 'resnet50', 'mdmt', 'fold0');
  fs.mkdirSync(started, { recursive: true });
  fs.writeFileSync(path.join(started, 'config.json'), JSON.stringify(resolveTrainConfig({ backbone: 'resnet50', experiment: 'stl_afc', outDir: started, data: { afc: path.join(dir, 'AIforCOVID') } })));
  // the user's own settings beside the runs (here in the root and in a folder of notes) are no runs:
  // the root was listed as '.' unfinished
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ backbones: ['resnet18', 'mobilenet_v2'], epochs: 3 }));
  fs.mkdirSync(path.join(dir, 'notes'));
  fs.writeFileSync(path.join(dir, 'notes', 'config.json'), '{ not json');
  // a finished run that kept its checkpoint is finished
  fs.writeFileSync(path.join(dir, 'cv', 'resnet18', 'ft', 'fold0', 'checkpoint.safetensors'), 'x');
  const r = reportRuns(dir);
  const w = `2 runs unfinished (no result.json), not in the tables: ${path.join('cv', 'mobilenet_v2', 'ft', 'fold0')}, ${path.join('cv', 'resnet50', 'mdmt', 'fold0')}`;
  assert.ok(r.warnings.includes(w), r.warnings.join('\n'));
  assert.ok(r.markdown.split('## Table 1')[1]!.split('\n| Experiment')[0]!.includes(`> **Warning:** ${w}.`));
});

test('σ of a single fold is undefined: "–", left out of σ̄ (‡) and of the σ tests', () => {
  const bbs = ['a', 'b', 'c'];
  const all = bbs.flatMap((b, i) => (['stl_afc', 'mdmt'] as const).flatMap((e) => [0, 1, 2].map((f) => run(b, e, 'cv', f, (e === 'mdmt' ? 0.7 : 0.6) + 0.01 * i + (e === 'mdmt' ? 0.002 : 0.01) * f * (i + 1)))))
    .filter((r) => !(r.backbone === 'c' && r.experiment === 'mdmt' && r.fold !== 0));
  const s = summarizeRuns(all);
  const c = s.find((x) => x.backbone === 'c' && x.experiment === 'mdmt')!;
  assert.ok(Number.isNaN(c.metrics.acc!.std), `σ of one fold: ${c.metrics.acc!.std}`);
  const t = table1(s);
  const cell = t.mdmt!.cv!.acc!;
  assert.equal([cell.backbones, cell.stdBackbones], [3, 2]);
  const sd = (v: number[]) => { const m = v.reduce((x, y) => x + y, 0) / v.length; return Math.sqrt(v.reduce((x, y) => x + (y - m) ** 2, 0) / v.length); };
  close(cell.std, (sd([0.7, 0.702, 0.704]) + sd([0.71, 0.714, 0.718])) / 2, 'σ̄ over a and b only');
  assert.match(row(table1Markdown(t), 'MDMT')[1]!, /^\*\*\d+\.\d ± \d+\.\d‡ †\*\*$|^\d+\.\d ± \d+\.\d‡ †$/);
  assert.match(table1Markdown(t), /‡ σ undefined \(fewer than 2 folds, or no more folds than ddof\)/);
  assert.match(row(perBackboneMarkdown(s, 'cv'), 'c')[3]!, /± – †$/, 'ACC MDMT of c');
  // the σ tests pair a and b only; the μ tests all three
  const cells = table2(s).filter((x) => x.protocol === 'cv' && x.baseline === 'stl_afc' && x.metric === 'acc');
  assert.equal(cells.map((x) => `${x.stat} ${x.n}`), ['mean 3', 'std 2']);
  const dir = tmpDir('rep-sigma');
  const r = writeReport(all, dir, { curves: false });
  assert.ok(r.warnings.includes('σ undefined (a single fold) for c CV MDMT: left out of σ̄ (‡) and of any σ test (Table 2)'), r.warnings.join('\n'));
  assert.not.match(r.markdown, /± 0\.0/);
  assert.not.match(fs.readFileSync(path.join(dir, 'per_backbone.csv'), 'utf8'), /^c,mdmt,cv,1,acc,[\d.]+,0$/m);
});

test('σ undefined by ddof (2 folds, ddof 2) is named with its reason, not as "fewer than 2 folds" alone', () => {
  const r = writeReport(twoByTwo.filter((x) => x.experiment !== 'ft'), tmpDir('rep-ddof'), { curves: false, ddof: 2 });
  assert.ok(r.warnings.includes('σ undefined (ddof 2 needs more than 2 folds) for mobilenet_v2 CV MDMT (2 folds), mobilenet_v2 CV STL τ1 (2 folds), ' +
    'resnet18 CV MDMT (2 folds), resnet18 CV STL τ1 (2 folds): left out of σ̄ (‡) and of any σ test (Table 2)'), r.warnings.join('\n'));
  assert.match(r.markdown, /> \*\*Warning:\*\* σ undefined \(ddof 2 needs more than 2 folds\)/);
  const w1 = writeReport(twoByTwo.filter((x) => x.experiment !== 'ft'), tmpDir('rep-ddof1'), { curves: false, ddof: 1 }).warnings;
  assert.not.ok(w1.some((w) => w.includes('σ undefined')), w1.join('\n'));
});

test('Table 2: "n/a" (not computable, with the reason) is told from "–" (not significant), and n is phrased right', () => {
  // one backbone: no cell can be tested
  const one = [0, 1].flatMap((f) => (['stl_afc', 'ft', 'mdmt'] as const).map((e) => run('resnet18', e, 'cv', f, 0.6 + 0.01 * f + (e === 'mdmt' ? 0.05 : 0))));
  const md1 = table2Markdown(table2(summarizeRuns(one)));
  assert.ok(row(md1, 'μ ↑').slice(2).every((x) => x === 'n/a'), row(md1, 'μ ↑').join(' | '));
  assert.match(md1, /n\/a: not computable: fewer than 2 backbones have both MDMT and the baseline/);
  assert.not.match(md1, /across \d+ backbones?/, 'no count of a test that did not run');
  assert.match(md1, /one-tailed paired t-test across backbones/);
  // nothing paired at all: not "across 0 backbones"
  assert.not.match(table2Markdown(table2(summarizeRuns(one.filter((r) => r.experiment === 'stl_afc')))), /across 0/);
  // two backbones whose MDMT − STL τ1 differences are all zero: t undefined, n/a; FT vs MDMT testable
  const two = ['a', 'b'].flatMap((b, i) => [0, 1].flatMap((f) => [
    run(b, 'stl_afc', 'cv', f, 0.6 + 0.01 * i + 0.02 * f), run(b, 'mdmt', 'cv', f, 0.6 + 0.01 * i + 0.02 * f), run(b, 'ft', 'cv', f, 0.55 + 0.03 * i + 0.01 * f),
  ]));
  const md2 = table2Markdown(table2(summarizeRuns(two)));
  assert.is(row(md2, 'μ ↑')[2], 'n/a');
  assert.match(md2, /n\/a: not computable: the paired differences are all zero/);
  assert.match(md2, /n\/a: not computable: fewer than 2 backbones/, 'LOCO, which has no runs');
  assert.match(md2, /across 2 backbones/);
  const ft = row(md2, '')[2]!;
  assert.ok(ft === '–' || /^\*+$/.test(ft), `MDMT vs FT μ is a test result: ${ft}`);
});

test('Table 2: differences that are all equal (t = ±∞) are marked §, footnoted, and inf in the CSV', () => {
  // MDMT 0.05 above STL τ1 on every backbone: p was printed 0.0e+0 beside ***, with an empty t in table2.csv
  const rs = ['a', 'b', 'c'].flatMap((b, i) => [0, 1].flatMap((f) => [
    run(b, 'stl_afc', 'cv', f, 0.6 + 0.02 * i + 0.01 * f), run(b, 'mdmt', 'cv', f, 0.65 + 0.02 * i + 0.01 * f), run(b, 'ft', 'cv', f, 0.6 + 0.03 * i * f),
  ]));
  const dir = tmpDir('rep-inf');
  const md = writeReport(rs, dir, { curves: false }).markdown;
  const p = md.split('\n').filter((l) => l.startsWith('| μ ↑ |'))[1]!.split('|').map((x) => x.trim());
  assert.is(p[3], '0§ (0.125)', p.join(' | '));
  // and so are its stars in the paper's layout: '***' from t = ±∞ read as a significant result, unmarked
  const stars = md.split('\n').filter((l) => l.startsWith('| μ ↑ |'))[0]!.split('|').map((x) => x.trim());
  assert.is(stars[3], '***§', stars.join(' | '));
  assert.match(md, /§ the paired differences are all equal \(no variance\): t is ±∞/);
  const csv = fs.readFileSync(path.join(dir, 'table2.csv'), 'utf8');
  assert.match(csv, /^cv,mean,stl_afc,acc,3,[\d.]+,[\d.]+,-inf,2,0,\*\*\*,/m, csv);
  // a cell with no pairs has no degrees of freedom (was -1)
  assert.match(csv, /^loco,mean,stl_afc,acc,0,,,,,,,/m, csv);
});

test('an empty --out is a usage error (exit 2), nothing written in the working directory', () => {
  const dir = tmpDir('rep-emptyout');
  const f = path.join(dir, 'runs', 'cv', 'resnet18', 'stl_afc', 'fold0', 'result.json');
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, JSON.stringify({ result: run('resnet18', 'stl_afc', 'cv', 0, 0.6) }));
  const err = (g: () => unknown) => { try { g(); } catch (e) { return e as MdmtError; } throw new Error('expected an error'); };
  // from a folder of its own: without the check, the report went into the working directory
  const cwd = path.join(dir, 'cwd'), was = process.cwd();
  fs.mkdirSync(cwd);
  process.chdir(cwd);
  try {
    for (const out of ['', '  ']) {
      const e = err(() => reportRuns(path.join(dir, 'runs'), { out }));
      assert.equal([e.code, exitCodeOf(e, () => {})], ['ECONFIG', 2], e.message);
      assert.match(e.message, /--out is empty/);
    }
    assert.is(err(() => writeReport([], '')).code, 'ECONFIG');
  } finally {
    process.chdir(was);
  }
  assert.equal(fs.readdirSync(cwd), []);
  // the CLI
  let root = __dirname;
  while (!fs.existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
  const entry = path.extname(__filename) === '.js' ? [path.join(root, 'bin', 'mdmt.js')] : ['--require', require.resolve('tsx/cjs'), path.join(root, 'ts', 'cli', 'main.ts')];
  const p = spawnSync(process.execPath, [...entry, 'report', path.join(dir, 'runs'), '--out', ''], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  assert.is(p.status, 2, p.stderr);
  assert.match(p.stderr, /--out is empty/);
  assert.equal(fs.readdirSync(cwd), []);
});

test('Table 2: a printed p-value never reads on the other side of a star threshold from its stars', () => {
  // 0.0496 was printed 0.050 beside its *, 0.000999 as 0.0010 beside ***, and 0.00999 as 0.010 beside **:
  // the same '0.050' stood beside '*' in one cell and '–' in another
  for (const p of [0.0496, 0.04996, 0.049999, 0.00999, 0.009996, 0.000999, 0.0009996, 0.05, 0.0500004, 0.01, 0.001, 0.0123, 0.0042, 0.188, 3.2e-5]) {
    const s = fmtP(p);
    assert.is(stars(Number(s)), stars(p), `p ${p} printed ${s}`);
  }
  // the usual formats are kept where no threshold is crossed
  assert.equal([0.188, 0.0123, 0.0042, 3.2e-5, 0.05, 0.01].map(fmtP), ['0.188', '0.012', '0.0042', '3.2e-5', '0.050', '0.010']);
});

test("Table 2 is partial where the fold sets differ even when the fold names hold commas (LOCO 'a,b' + 'c' against 'a' + 'b,c')", () => {
  const F: Record<string, string[]> = { mdmt: ['a,b', 'c'], stl_afc: ['a', 'b,c'], ft: ['a,b', 'c'] };
  const res = ['r18', 'r50'].flatMap((b, i) => (['stl_afc', 'ft', 'mdmt'] as const).flatMap((e) => F[e]!.map((f) => run(b, e, 'loco', f, 0.6 + 0.01 * i + (e === 'mdmt' ? 0.02 : 0)))));
  const cells = table2(summarizeRuns(res)).filter((c) => c.protocol === 'loco');
  assert.ok(cells.filter((c) => c.baseline === 'stl_afc').every((c) => c.partial), 'MDMT and STL τ1 hold different centres');
  assert.ok(cells.filter((c) => c.baseline === 'ft').every((c) => !c.partial), 'MDMT and FT hold the same centres');
});

test('Table 2 σ tests of backbones whose folds are all identical are n/a (no differences), not "MDMT not smaller, t = −∞"', () => {
  // σ of [0.7, 0.7, 0.7] was ~1e-16 (the rounded mean), paired against STL τ1's ~0 as '–§' with p 1
  const res = ['r18', 'r50', 'd121'].flatMap((b) => (['stl_afc', 'ft', 'mdmt'] as const).flatMap((e) => [0, 1, 2].map((f) => run(b, e, 'cv', f, e === 'mdmt' ? 0.7 : 0.65))));
  const s = summarizeRuns(res);
  assert.ok(s.every((x) => x.metrics.acc!.std === 0), 'σ 0');
  const sigma = table2(s).filter((c) => c.stat === 'std' && c.protocol === 'cv');
  assert.ok(sigma.every((c) => c.n === 3 && Number.isNaN(c.t.statistic) && Number.isNaN(c.t.pvalue)), JSON.stringify(sigma.map((c) => c.t)));
  const md = table2Markdown(table2(s));
  assert.equal(row(md, 'σ ↓').slice(2, 5), ['n/a', 'n/a', 'n/a']);
  assert.match(md, 'the paired differences are all zero');
});

test.run();
