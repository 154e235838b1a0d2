// The report's output folder (QA audit): an empty --out is a usage error (exit 2), not the
// working directory, which received every file of the report.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCodeOf } from '../../ts/cli/main';
import { reportRuns } from '../../ts/cli/report';
import { MdmtError } from '../../ts/errors';
import { writeReport } from '../../ts/report';
import type { Experiment, Protocol, RunResult } from '../../ts/report/types';
import { tmpDir } from '../train/_fixture';

const run = (backbone: string, experiment: Experiment, protocol: Protocol, fold: number | string, acc: number): RunResult => ({
  backbone, experiment, protocol, fold, imagenet: true, metrics: { acc, f1: acc - 0.01, gmean: acc - 0.02 },
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
