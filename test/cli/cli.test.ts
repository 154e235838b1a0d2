// The mdmt CLI as a script sees it: --help on every command (exit 0), usage errors — unknown
// command or flag, bad flag value, missing required flag, invalid configuration — exit 2 and
// name the flag; runtime failures (missing runs directory) exit 1 naming the path; doctor
// reports the CPU; `mdmt train` and `mdmt report` run end to end on tiny data.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tinyData, tmpDir } from '../train/_fixture';
import { linkedData } from '../data/_linked';
import { deviceAvailable } from '../helpers';
import { afterInterrupt } from '../../ts/cli/main';
import { nextCommand } from '../../ts/cli/commands/synth';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('cli');

const root = (() => {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();
// compiled tests run the shipped shim (bin/mdmt.js → dist); from sources, the TS entry via tsx
const BB = 'shufflenet_v2_x0_5';
const fromDist = path.extname(__filename) === '.js';
const entry = fromDist ? [path.join(root, 'bin', 'mdmt.js')] : ['--require', require.resolve('tsx/cjs'), path.join(root, 'ts', 'cli', 'main.ts')];

function mdmt(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return mdmtEnv({}, ...args);
}
function mdmtEnv(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...entry, ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0', ...env } });
    let out = '', err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test('--help everywhere exits 0', async () => {
  const top = await mdmt('--help');
  assert.is(top.code, 0);
  const cmds = ['demo', 'train', 'experiment', 'report', 'doctor'];
  for (const c of cmds) assert.match(top.out, new RegExp(`\\n  ${c}\\b`), `${c} listed`);
  for (const c of [...cmds, ...['synth', 'inspect', 'export'].filter((c) => new RegExp(`\\n  ${c}\\b`).test(top.out))]) {
    const r = await mdmt(c, '--help');
    assert.is(r.code, 0, `${c} --help`);
    assert.match(r.out, `Usage: mdmt ${c}`);
  }
  assert.is((await mdmt('--version')).code, 0);
});

test('usage errors exit 2 and name the flag', async () => {
  const none = await mdmt();
  assert.is(none.code, 2, 'no command');
  const unknownCmd = await mdmt('frobnicate');
  assert.is(unknownCmd.code, 2);
  assert.match(unknownCmd.err, 'frobnicate');
  const unknownFlag = await mdmt('demo', '--bogus');
  assert.is(unknownFlag.code, 2);
  assert.match(unknownFlag.err, '--bogus');
  const badValue = await mdmt('demo', '--epochs', 'x');
  assert.is(badValue.code, 2);
  assert.match(badValue.err, '--epochs');
  const badChoice = await mdmt('train', '--backbone', 'b', '--experiment', 'stl', '--out', '/tmp/x');
  assert.is(badChoice.code, 2);
  assert.match(badChoice.err, '--experiment');
  const missing = await mdmt('train', '--backbone', 'b', '--out', '/tmp/x');
  assert.is(missing.code, 2);
  assert.match(missing.err, '--experiment');
  const noFile = await mdmt('train', '--backbone', 'b', '--experiment', 'stl_afc', '--out', '/tmp/x', '--data-afc', '/nonexistent/afc');
  assert.is(noFile.code, 2);
  assert.match(noFile.err, '--data-afc');
  assert.match(noFile.err, '/nonexistent/afc');
  const badBackbone = await mdmt('train', '--backbone', 'resnet_nope', '--experiment', 'stl_afc', '--out', tmpDir('cli-b'), '--data-afc', root);
  assert.is(badBackbone.code, 2);
  assert.match(badBackbone.err, "'resnet_nope' is not a registered model");
  const badConfig = await mdmt('train', '--backbone', BB, '--experiment', 'mdmt', '--out', tmpDir('cli-x'), '--data-afc', root, '--data-bx', root);
  assert.is(badConfig.code, 2, 'MDMT without its STL files is a configuration error');
  assert.match(badConfig.err, 'init.stlAfc');
  const bf16 = await mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', tmpDir('cli-p'), '--data-afc', root, '--device', 'cpu', '--precision', 'bf16');
  assert.is(bf16.code, 2, 'bf16 on the CPU is a configuration error');
  assert.match(bf16.err, "config.precision (--precision) is 'bf16' but the device is cpu");
  const half = await mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', tmpDir('cli-p'), '--data-afc', root, '--precision', 'half');
  assert.is(half.code, 2);
  assert.match(half.err, '--precision');
});

test('runtime failures exit 1 and name the path', async () => {
  const r = await mdmt('report', '/nonexistent/runs');
  assert.is(r.code, 1);
  assert.match(r.err, '/nonexistent/runs');
  const out = path.join(tmpDir('cli-dev'), 'run');
  const dev = await mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', out, '--data-afc', root, '--device', 'cuda:9');
  assert.is(dev.code, 1);
  assert.match(dev.err, "config.device (--device) 'cuda:9' is not available");
  assert.not.ok(fs.existsSync(out), 'nothing written for an unavailable device');
});

test('doctor lists the CPU backend and the addon', async () => {
  const r = await mdmt('doctor');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /addon\s+\S+mdmt\.node/);
  assert.match(r.out, /\n {2}cpu\s+available/);
  assert.match(r.out, /node\s+v\d+/);
  const none = await mdmtEnv({ MDMT_ADDON: '/nonexistent/mdmt.node' }, 'doctor');
  assert.is(none.code, 1, 'doctor fails when the addon cannot load');
  assert.match(none.out, /NOT LOADED: .*\/nonexistent\/mdmt\.node/);
  assert.is((await mdmtEnv({ MDMT_ADDON: '/nonexistent/mdmt.node' }, '--help')).code, 0, '--help needs no addon');
});

test('mdmt train then mdmt report on tiny data', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = tmpDir('cli-runs');
  const r = await mdmt('train', '--backbone', 'shufflenet_v2_x0_5', '--experiment', 'stl_afc', '--out', path.join(runs, 'a'),
    '--data-afc', d.afc, '--image-size', '32', '--batch-size', '8', '--epochs', '2', '--warmup', '0', '--k-folds', '3', '--no-progress', '--json');
  assert.is(r.code, 0, r.err);
  // --no-progress drops the bars, not the messages: the data summary and notices still reach stderr
  assert.match(r.err, /^data: AIforCOVID .* records kept/m);
  assert.match(r.err, /^data: reading the \d+ images of the split once before training/m);
  const j = JSON.parse(r.out) as { metrics: { test: { acc: number } }; bestPath: string };
  assert.ok(j.metrics.test.acc >= 0 && j.metrics.test.acc <= 1 && fs.existsSync(j.bestPath));
  assert.not.match(r.err, 'finished run');
  // the same command again prints the finished run and says that nothing trained
  const again = await mdmt('train', '--backbone', 'shufflenet_v2_x0_5', '--experiment', 'stl_afc', '--out', path.join(runs, 'a'),
    '--data-afc', d.afc, '--image-size', '32', '--batch-size', '8', '--epochs', '2', '--warmup', '0', '--k-folds', '3', '--no-progress');
  assert.is(again.code, 0, again.err);
  assert.match(again.err, `${path.join(runs, 'a')} holds a finished run (result.json): its result is printed, nothing was trained`);
  assert.match(again.out, /test ACC \d.*\(τ1 AIforCOVID prognosis\)/);
  // MDMT prints both heads' test metrics, each named
  const common = ['--data-afc', d.afc, '--data-bx', d.bx, '--image-size', '32', '--batch-size', '8', '--epochs', '2', '--warmup', '0', '--k-folds', '3', '--no-progress'];
  const bx = await mdmt('train', '--backbone', 'shufflenet_v2_x0_5', '--experiment', 'stl_bx', '--out', path.join(runs, 'b'), ...common);
  assert.is(bx.code, 0, bx.err);
  assert.match(bx.out, /test ACC \d.*\(τ2 BRIXIA severity\)/);
  const md = await mdmt('train', '--backbone', 'shufflenet_v2_x0_5', '--experiment', 'mdmt', '--out', path.join(runs, 'c'), ...common,
    '--init-stl-afc', path.join(runs, 'a', 'best.safetensors'), '--init-stl-bx', path.join(runs, 'b', 'best.safetensors'));
  assert.is(md.code, 0, md.err);
  assert.match(md.out, /test ACC \d.*\(τ1 AIforCOVID prognosis\)\ntest ACC \d.*\(τ2 BRIXIA severity, MDMT's second head\)/);
  const rep = await mdmt('report', runs);
  assert.is(rep.code, 0, rep.err);
  assert.match(rep.out, '## Table 1');
  assert.match(rep.out, '## Table 2');
  assert.match(rep.out, /\n3 runs; report: /);
  assert.ok(fs.existsSync(path.join(runs, 'report', 'table1.csv')));
  const one = await mdmt('report', path.join(runs, 'a'));
  assert.is(one.code, 0, one.err);
  assert.match(one.out, /\n1 run; report: /);
});

test('mdmt train on a covid-cxr folder names its tasks as covid-cxr\'s, not AIforCOVID\'s and BRIXIA\'s', async () => {
  if (!on) return;
  const dir = await linkedData(tmpDir('cli-cxr'), 36);
  const args = (exp: string) => ['train', '--backbone', BB, '--experiment', exp, '--out', path.join(dir, 'runs', exp), '--covid-cxr', dir,
    '--image-size', '32', '--batch-size', '8', '--epochs', '1', '--warmup', '0', '--k-folds', '3', '--no-progress'];
  const afc = await mdmt(...args('stl_afc'));
  assert.is(afc.code, 0, afc.err);
  assert.match(afc.out, /test ACC \d.*\(τ1 prognosis of covid-cxr\)\n/);
  const bx = await mdmt(...args('stl_bx'));
  assert.is(bx.code, 0, bx.err);
  assert.match(bx.out, /test ACC \d.*\(τ2 Brixia severity of covid-cxr\)\n/);
  assert.not.match(afc.out + bx.out, /AIforCOVID|BRIXIA/);
});

test('Ctrl-C (SIGINT) or SIGTERM during training releases the run-directory lock and says how to resume', async () => {
  if (!on) return;
  const d = await tinyData();
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const out = path.join(tmpDir('cli-sig'), 'run');
    const p = spawn(process.execPath, [...entry, 'train', '--backbone', BB, '--experiment', 'stl_afc', '--out', out, '--data-afc', d.afc,
      '--image-size', '32', '--epochs', '100000', '--warmup', '1', '--patience', '99999', '--random-init', '--workers', '0', '--no-progress', '--k-folds', '3'],
    { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    const closed = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    // once an epoch is logged the run holds its lock and trains
    for (let t = 0; t < 600 && !(fs.existsSync(path.join(out, 'log.jsonl')) && fs.statSync(path.join(out, 'log.jsonl')).size > 0); t++) await new Promise((r) => setTimeout(r, 100));
    if (!fs.existsSync(path.join(out, '.lock'))) p.kill('SIGKILL');
    assert.ok(fs.existsSync(path.join(out, '.lock')), `${sig}: the run holds its lock while training`);
    p.kill(sig);
    // a child that ignores the signal (its event loop never turning) must fail the test, not hang it
    const guard = setTimeout(() => p.kill('SIGKILL'), 30_000);
    const got = await closed;
    clearTimeout(guard);
    assert.is(got, code, `${sig}: exit code (stderr: ${err})`);
    assert.match(err, `mdmt: interrupted (${sig}); released 1 run-directory lock; run the same command again to resume`);
    assert.not.ok(fs.existsSync(path.join(out, '.lock')), `${sig}: the lock is gone`);
  }
});

test("synth's next command trains on the data set that has images (--n-afc 0 suggested a τ1 run on none)", () => {
  const roots = { afcRoot: 'd/AIforCOVID', bxRoot: 'd/BRIXIA' };
  const both = nextCommand({ ...roots, nAfc: 4, nBx: 4 })!, afc = nextCommand({ ...roots, nAfc: 4, nBx: 0 })!, bx = nextCommand({ ...roots, nAfc: 0, nBx: 4 })!;
  assert.match(both, /--data-afc d\/AIforCOVID --data-bx d\/BRIXIA .*--experiment stl_afc.*or mdmt experiment/);
  assert.match(afc, /--data-afc d\/AIforCOVID .*--experiment stl_afc/);
  assert.not.match(afc, /BRIXIA|mdmt experiment/);
  assert.match(bx, /--data-bx d\/BRIXIA .*--experiment stl_bx .*--out runs\/stl_bx/);
  assert.not.match(bx, /AIforCOVID|stl_afc/);
  assert.is(nextCommand({ ...roots, nAfc: 0, nBx: 0 }), undefined);
  // a path with a space or a quote is one shell word (the hint was split at the space when copied)
  const odd = nextCommand({ afcRoot: "/tmp/my data/AIforCOVID", bxRoot: "/tmp/it's/BRIXIA", nAfc: 4, nBx: 4 })!;
  assert.ok(odd.includes(`--data-afc '/tmp/my data/AIforCOVID' --data-bx '/tmp/it'\\''s/BRIXIA'`), odd);
  const words = spawnSync('sh', ['-c', `for w in ${odd.split(' (or ')[0]}; do echo "$w"; done`], { encoding: 'utf8' }).stdout.split('\n');
  assert.ok(words.includes('/tmp/my data/AIforCOVID') && words.includes("/tmp/it's/BRIXIA"), words.join('|'));
});

test('synth with --n-afc 0 --n-bx 0 is a usage error, not two empty data sets and exit 0', () => {
  const out = path.join(tmpDir('cli-synth-none'), 'data');
  const r = spawnSync(process.execPath, [...entry, 'synth', '--out', out, '--n-afc', '0', '--n-bx', '0'], { cwd: root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /n-afc and n-bx are both 0/);
  assert.not.ok(fs.existsSync(path.join(out, 'AIforCOVID')), 'nothing written');
});

test('Ctrl-C during synth says to rerun with --force (synth does not resume; a rerun was refused as not empty)', async () => {
  assert.is(afterInterrupt(['node', 'mdmt', 'train', '--out', 'x']), '; run the same command again to resume');
  assert.is(afterInterrupt(['node', 'mdmt', 'predict', '--run', 'r', 'a.png']), '', 'predict has nothing to resume');
  const out = path.join(tmpDir('cli-synth-sig'), 'data');
  const p = spawn(process.execPath, [...entry, 'synth', '--out', out, '--n-afc', '4000', '--n-bx', '10', '--size', '512'],
    { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
  let err = '';
  p.stderr.on('data', (b) => (err += b));
  const closed = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  for (let t = 0; t < 600 && !fs.existsSync(path.join(out, 'AIforCOVID')); t++) await new Promise((r) => setTimeout(r, 50));
  p.kill('SIGINT');
  const guard = setTimeout(() => p.kill('SIGKILL'), 30_000);
  const got = await closed;
  clearTimeout(guard);
  assert.is(got, 130, err);
  assert.match(err, 'mdmt: interrupted (SIGINT); the output folder is incomplete: run the same command with --force to write it again');
  assert.not.match(err, 'resume');
  // and what it said is so: the same command without --force is refused, the folder not being empty
  const again = await mdmt('synth', '--out', out, '--n-afc', '4000', '--n-bx', '10', '--size', '512');
  assert.is(again.code, 2, again.err);
  assert.match(again.err, '--force');
});

test.run();
