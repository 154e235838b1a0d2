// What the report says when a sweep is not whole (QA audit): Table 2 tells "not computable"
// (n/a, with the reason) from "not significant" (–), and phrases its count of backbones right;
// an empty --out is a usage error (exit 2), not the working directory.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCodeOf } from '../../ts/cli/main';
import { reportRuns } from '../../ts/cli/report';
import { MdmtError } from '../../ts/errors';
import { summarizeRuns, table2, table2Markdown, writeReport } from '../../ts/report';
import type { Experiment, Protocol, RunResult } from '../../ts/report/types';
import { tmpDir } from '../train/_fixture';

const run = (backbone: string, experiment: Experiment, protocol: Protocol, fold: number | string, acc: number): RunResult => ({
  backbone, experiment, protocol, fold, imagenet: true, metrics: { acc, f1: acc - 0.01, gmean: acc - 0.02 },
});
/** The Markdown row of `label` in `md`, split into its trimmed cells (label first). */
const row = (md: string, label: string) => md.split('\n').find((l) => l.startsWith(`| ${label} |`))!.split('|').slice(1, -1).map((s) => s.trim());

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

test.run();
