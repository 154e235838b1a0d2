// The benchmarks' settings parser (bench/lib/args.ts), their shared median / geomean / load
// warning (bench/lib/report.ts), and scripts/bench.js forwarding options after `--` to the
// benchmark it runs (a bad value reaches it and is refused with status 2).
import { spawnSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Args, BenchArgError, checkSize, parseSettings } from '../../bench/lib/args';
import { appendToSection, busyWarning, geomean, median } from '../../bench/lib/report';
import { packageRoot } from '../../ts/native/binding';

const args = (argv: string[], env: Record<string, string> = {}) => new Args(argv, env);
const message = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    assert.instance(e, BenchArgError);
    return (e as Error).message;
  }
  return '';
};

test('integers and numbers: defaults, both option forms, ranges named with the setting and value', () => {
  assert.is(args([]).int('--rounds', 3, { min: 1 }), 3);
  assert.is(args(['--rounds=5']).int('--rounds', 3, { min: 1 }), 5);
  assert.is(args(['--rounds', '5']).int('--rounds', 3, { min: 1 }), 5);
  assert.is(args([], { BENCH_ROUNDS: '4' }).int('BENCH_ROUNDS', 3, { min: 1 }), 4);
  assert.is(args([], { BENCH_ROUNDS: '' }).int('BENCH_ROUNDS', 3, { min: 1 }), 3, 'an empty variable is unset');
  assert.is(message(() => args([], { BENCH_ROUNDS: '0' }).int('BENCH_ROUNDS', 3, { min: 1 })), "BENCH_ROUNDS must be an integer ≥ 1, got '0'");
  assert.is(message(() => args([], { BENCH_ROUNDS: 'abc' }).int('BENCH_ROUNDS', 3, { min: 1 })), "BENCH_ROUNDS must be an integer ≥ 1, got 'abc'");
  assert.is(message(() => args(['--reps=2.5']).int('--reps', 7, { min: 1, max: 9 })), "--reps must be an integer in [1, 9], got '2.5'");
  assert.is(args(['--min-time=0.5']).num('--min-time', 2, { min: 0 }), 0.5);
  for (const v of ['0x10', 'Infinity', '-1', '1e'])
    assert.match(message(() => args([`--min-time=${v}`]).num('--min-time', 2, { min: 0 })), /^--min-time must be a number ≥ 0/, v);
  assert.is(message(() => args(['--rounds']).int('--rounds', 3)), '--rounds needs a value');
});

test('choices, lists, flags and model names', () => {
  assert.is(message(() => args([], { BENCH_PROFILE: 'yes' }).choice('BENCH_PROFILE', '0', ['0', '1', 'shapes'])), "BENCH_PROFILE must be one of 0 | 1 | shapes, got 'yes'");
  assert.equal(args(['--batches=1,8']).ints('--batches', [1], { min: 1 }), [1, 8]);
  assert.match(message(() => args(['--batches=1,0']).ints('--batches', [1], { min: 1 })), /--batches must be comma-separated integers ≥ 1/);
  assert.match(message(() => args([], { L: 'a,,b' }).list('L', [])), /without empty items/);
  assert.is(args(['--quick']).flag('--quick'), true);
  assert.is(args([]).flag('--quick'), false);
  assert.match(message(() => args(['--quick=1']).flag('--quick')), /takes no value/);
  assert.is(args([], { BENCH_CLI: '0' }).flag('BENCH_CLI', true), false);
  assert.equal(args([], { BENCH_MODELS: 'resnet18,googlenet' }).models('BENCH_MODELS', []), ['resnet18', 'googlenet']);
  assert.match(message(() => args([], { BENCH_MODELS: 'resnet19' }).models('BENCH_MODELS', [])), /^BENCH_MODELS: 'resnet19' is not one of .*resnet18/);
});

test('unknown options are refused; sizes below a model\'s smallest input too', () => {
  const a = args(['--reps=2', '--threds=1']);
  a.int('--reps', 7);
  a.int('--threads', 0);
  assert.is(message(() => a.done()), "unknown option '--threds=1' (options: --reps --threads)");
  checkSize(['resnet18'], 32, 'BENCH_SIZE');
  assert.match(message(() => checkSize(['resnet18', 'densenet121'], 7, 'BENCH_SIZE')), /^BENCH_SIZE=7 is below \w+'s smallest input size \d+$/);
  assert.equal(parseSettings('t', (s) => s.int('--n', 1), ['--n=2']), 2);
});

test('one median (the true median), geomean and the busy-machine warning', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.ok(Math.abs(geomean([1, 4]) - 2) < 1e-12);
  assert.is(busyWarning(2, 1.5), '');
  assert.match(busyWarning(2, 3.2), /load 3\.20 exceeds the 2 thread\(s\).*unreliable/);
});

test('scripts/bench.js forwards the options after the filter to the benchmark', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, [path.join(packageRoot(), 'scripts', 'bench.js'), ...a],
    { cwd: packageRoot(), encoding: 'utf8', env: { ...process.env, MDMT_SKIP_TSC: '1' } });
  const r = run('ops/cpu-kernels', '--reps=0');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /bench\/ops\/cpu-kernels: --reps must be an integer ≥ 1, got '0'/);
  const g = run('gpu/step', '--mode', 'bogus', '--models', 'resnet18');
  assert.is(g.status, 2, g.stderr);
  assert.match(g.stderr, /--mode must be one of eager \| compiled, got 'bogus'/);
  // --device gpu0 was "nothing measured" (exit 3), which a run of every benchmark reports as a
  // skip for want of a CUDA device: a typo passed for a CPU-only machine
  const d = run('gpu/step', '--device', 'gpu0', '--models', 'resnet18');
  assert.is(d.status, 2, d.stderr);
  assert.match(d.stderr, /bench\/gpu\/step: --device must be cpu, cuda or cuda:N, got 'gpu0'/);
  assert.is(run('no-such-benchmark').status, 2);
  // bench:train runs two benchmarks (train/cli, train/step), which both refused the option: status 1
  const t = run('train/', '--bogus');
  assert.is(t.status, 2, t.stderr);
  assert.match(t.stderr, /bench\/train\/cli: unknown option '--bogus'/);
  assert.match(t.stderr, /bench\/train\/step: unknown option '--bogus'/);
});

test('scripts/bench.js refuses a variable mdmt refuses in one line with status 2, not each benchmark\'s stack', () => {
  // MDMT_NUM_THREADS=abc printed an uncaught MdmtError with its stack and exited 1 (README: "A bad or
  // unknown option or variable is refused with one line and exit status 2")
  const run = (env: Record<string, string>) => spawnSync(process.execPath, [path.join(packageRoot(), 'scripts', 'bench.js'), 'ops/cpu-kernels', '--reps=1'],
    { cwd: packageRoot(), encoding: 'utf8', env: { ...process.env, MDMT_SKIP_TSC: '1', ...env } });
  for (const [env, re] of [[{ MDMT_NUM_THREADS: 'abc' }, /MDMT_NUM_THREADS: 'abc' is not a thread count/], [{ MDMT_DEVICE: 'gpu' }, /MDMT_DEVICE: 'gpu' is not a device/]] as const) {
    const r = run(env);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack');
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('bench:gpu on the CPU: bf16 and --graph are refused up front; a backbone whose step fails is a row and exit 1', () => {
  // both printed a JSON error line per backbone, an empty table and exit status 0
  const run = (...a: string[]) => spawnSync(process.execPath, [path.join(packageRoot(), 'scripts', 'bench.js'), 'gpu/step', '--device', 'cpu', '--models', 'shufflenet_v2_x0_5', ...a],
    { cwd: packageRoot(), encoding: 'utf8', env: { ...process.env, MDMT_SKIP_TSC: '1' } });
  for (const opt of [['--precision', 'bf16'], ['--graph']]) {
    const r = run('--mode', 'compiled', ...opt);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, /bench\/gpu\/step: --precision bf16 and --graph need a CUDA --device, got 'cpu'/);
  }
  const f = run('--steps', '1', '--warmup', '0', '--batch', '1', '--size', '32', '--no-peer');
  assert.is(f.status, 1, f.stdout + f.stderr);
  assert.match(f.stdout, /\| shufflenet_v2_x0_5 \| eager \| error: EINVAL batchnorm2d: training needs more than 1 value per channel/);
});

test('bench:train refuses BENCH_BATCH=1 in one line (a training step cannot run BatchNorm on one sample)', () => {
  // it ran, and died in the first step with an uncaught MdmtError stack and exit status 1
  const r = spawnSync(process.execPath, [path.join(packageRoot(), 'scripts', 'bench.js'), 'train/step'],
    { cwd: packageRoot(), encoding: 'utf8', env: { ...process.env, MDMT_SKIP_TSC: '1', BENCH_BATCH: '1', BENCH_MODELS: 'shufflenet_v2_x0_5', BENCH_SIZE: '32', BENCH_ROUNDS: '1', BENCH_STEPS: '1' } });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /bench\/train\/step: BENCH_BATCH must be an integer ≥ 2, got '1'/);
});

test('appendToSection adds a run at the end of its section and keeps what the section held', () => {
  // bench:models --append replaced its whole RESULTS.md section (86 lines of earlier runs and
  // their analysis) with the new table
  const doc = '# R\n\n## A\n\nold run\n\nanalysis\n\n## B\n\nb text\n';
  const out = appendToSection(doc, '## A', ['### new run', '', '| t |']);
  assert.is(out, '# R\n\n## A\n\nold run\n\nanalysis\n\n### new run\n\n| t |\n\n## B\n\nb text\n');
  assert.is(appendToSection(out, '## B', ['x']), '# R\n\n## A\n\nold run\n\nanalysis\n\n### new run\n\n| t |\n\n## B\n\nb text\n\nx\n');
  assert.is(appendToSection('# R\n', '## C', ['y']), '# R\n\n## C\n\ny\n');
});

test.run();
