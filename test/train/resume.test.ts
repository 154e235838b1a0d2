// Resume: a child process running a small sweep is killed with SIGKILL in the middle of a
// job (after that job's first checkpoint, before its result); the same sweep started again
// skips the jobs that had finished (their result.json is untouched and sweep.log shows no
// second start), resumes the interrupted job from its checkpoint, and ends with results
// equal — every metric, confusion matrix, best epoch and per-epoch loss — to an
// uninterrupted sweep with the same seed. Two processes sharing a runs directory run each
// job once and both end with the sweep complete.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { experiment } from '../../ts/train/experiment';
import { tinyData, tmpDir } from './_fixture';
import { sweepConfig } from './_sweep';
import { deviceAvailable } from '../helpers';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/resume');

const strip = (r: object): unknown => JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'seconds' || k === 'liveTensors' ? undefined : v)));

test('a sweep killed mid-job resumes to the uninterrupted result; finished jobs never rerun', async () => {
  if (!on) return;
  const d = await tinyData();
  const ref = await experiment(sweepConfig(path.join(tmpDir('resume-ref'), 'runs'), d.afc, d.bx));
  assert.is(ref.trained.length, 4, 'stl_afc, stl_bx, ft, mdmt');

  const runs = path.join(tmpDir('resume'), 'runs');
  const child = path.join(__dirname, `_sweep_child${path.extname(__filename)}`);
  const args = path.extname(__filename) === '.ts' ? ['--require', require.resolve('tsx/cjs'), child] : [child];
  const p = spawn(process.execPath, [...args, runs, d.afc, d.bx], { stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
  let err = '';
  p.stderr.on('data', (b) => (err += b));
  const victim = path.join(runs, 'cv', ref.results[0].backbone, 'stl_bx', 'fold0'); // the second job
  const exited = new Promise<number | null>((res) => p.on('exit', (code) => res(code)));
  let killedMidJob = false;
  for (let i = 0; i < 6000 && p.exitCode === null; i++) {
    if (fs.existsSync(path.join(victim, 'checkpoint.safetensors')) && !fs.existsSync(path.join(victim, 'result.json'))) {
      p.kill('SIGKILL');
      killedMidJob = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await exited;
  assert.ok(killedMidJob, `the child was killed inside the stl_bx job (stderr: ${err.slice(0, 500)})`);
  assert.not.ok(fs.existsSync(path.join(victim, 'result.json')));
  const first = path.join(runs, 'cv', ref.results[0].backbone, 'stl_afc', 'fold0', 'result.json');
  assert.ok(fs.existsSync(first), 'the first job had finished before the kill');
  const firstMtime = fs.statSync(first).mtimeMs;

  const resumed = await experiment(sweepConfig(runs, d.afc, d.bx));
  assert.equal(resumed.skipped, ['cv/shufflenet_v2_x0_5/stl_afc/fold0'], 'the finished job is skipped');
  assert.equal(resumed.trained.length, 3);
  assert.is(fs.statSync(first).mtimeMs, firstMtime, 'its result.json is untouched');
  const log = fs.readFileSync(path.join(runs, 'sweep.log'), 'utf8');
  assert.is(log.match(/ start cv\/\S+\/stl_afc\/fold0/g)?.length, 1, 'stl_afc started once');
  assert.is(log.match(/ resume cv\/\S+\/stl_bx\/fold0/g)?.length, 1, 'stl_bx resumed from its checkpoint');
  assert.equal(resumed.results.map(strip), ref.results.map(strip), 'resumed sweep = uninterrupted sweep');
});

test('two processes sharing one runs directory run every job once and both end with the sweep complete', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('shared'), 'runs');
  const child = path.join(__dirname, `_sweep_child${path.extname(__filename)}`);
  const args = path.extname(__filename) === '.ts' ? ['--require', require.resolve('tsx/cjs'), child] : [child];
  const run = () => new Promise<number | null>((res) => spawn(process.execPath, [...args, runs, d.afc, d.bx], { stdio: 'ignore', env: process.env }).on('exit', res));
  const codes = await Promise.all([run(), run()]);
  assert.equal(codes, [0, 0]);
  const log = fs.readFileSync(path.join(runs, 'sweep.log'), 'utf8').trim().split('\n');
  const starts = log.filter((l) => / start /.test(l)).map((l) => l.split(' ').pop());
  assert.is(starts.length, 4, `4 jobs started once each: ${starts}`);
  assert.is(new Set(starts).size, 4);
  assert.is(log.filter((l) => / done /.test(l)).length, 4);
});

test.run();
