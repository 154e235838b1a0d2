// Issue 16 through the command line as a script sees it: an unknown --config key exits 2
// naming the key and the nearest valid one, synth's bad values and an --out that is a file
// exit 2 with an MdmtError message, a sweep with an unknown backbone exits 2 before training,
// `mdmt train` refuses an --out another live process holds (exit 1), and doctor lists the
// DICOM transfer syntaxes it decodes.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfigFile, SWEEP_FLAGS } from '../../ts/cli/options';
import { MdmtError } from '../../ts/errors';
import { tinyData, tmpDir } from '../train/_fixture';

const root = (() => {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();
const BB = 'shufflenet_v2_x0_5';

function mdmt(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(root, 'bin', 'mdmt.js'), ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let out = '', err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test('mdmt experiment --config: a key the sweep sets per job names the file and the flag (fold and folds sent each other to the other), null names the setting', () => {
  const d = tmpDir('cli-cfg-sweep');
  const cfg = path.join(d, 'c.json');
  const read = (json: object, perJob?: Readonly<Record<string, string>>) => { fs.writeFileSync(cfg, JSON.stringify(json)); return () => readConfigFile(cfg, perJob); };
  const cases: [object, string][] = [
    [{ folds: { cv: [0] } }, "'folds' is not a --config setting here"], [{ fold: 1 }, 'use --folds / --loco-folds'],
    [{ backbones: ['resnet18'] }, 'use --backbones'], [{ backbone: 'resnet18' }, 'use --backbones'], [{ outDir: 'x' }, 'use --runs'],
    [{ init: { stlBx: 'a' } }, "'init' is not a --config setting here"], [{ protocol: 'loco' }, 'use --protocols'],
  ];
  for (const [json, msg] of cases)
    assert.throws(read(json, SWEEP_FLAGS), (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && e.message.includes(`${cfg}: `) && e.message.includes(msg), `${JSON.stringify(json)}: ${msg}`);
  assert.throws(read({ imageSize: null }), (e: Error) => e.message === `--config: ${cfg}: config.imageSize is null: leave it out for the default, or give a value`);
  assert.equal(read({ imageSize: 32, fold: 1 })(), { imageSize: 32, fold: 1 }, 'mdmt train takes fold from a --config');
  fs.writeFileSync(cfg, '\uFEFF{"imageSize": 32}');
  assert.equal(readConfigFile(cfg), { imageSize: 32 }, 'a UTF-8 byte-order mark is read past (it failed as an invisible unexpected token)');
});

test('--config: unknown keys exit 2 naming the file, the key and the nearest valid key', async () => {
  const d = tmpDir('cli-cfg');
  const cfg = path.join(d, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ lr: 0.01, epochs: 1 }));
  const r = await mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', path.join(d, 'run'), '--data-afc', root, '--config', cfg);
  assert.is(r.code, 2, r.err);
  assert.match(r.err, `${cfg}: unknown key 'lr' (it would be ignored); did you mean optim.lr?`);
  fs.writeFileSync(cfg, JSON.stringify({ schedule: { maxEpochs: 2, warmupEpoch: 1 } }));
  const r2 = await mdmt('experiment', '--runs', path.join(d, 'runs'), '--backbones', BB, '--data-afc', root, '--config', cfg);
  assert.is(r2.code, 2, r2.err);
  assert.match(r2.err, "unknown key 'schedule.warmupEpoch' (it would be ignored); did you mean schedule.warmupEpochs?");
  assert.not.ok(fs.existsSync(path.join(d, 'run')), 'nothing written');
});

test('synth: bad values and an --out that is a file exit 2', async () => {
  const d = tmpDir('cli-synth');
  for (const args of [['--size', '10'], ['--size', '5000'], ['--n-afc', '-3'], ['--seed', 'x'], ['--n-bx', '1.5']]) {
    const r = await mdmt('synth', '--out', path.join(d, 'x'), ...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, args[0] === '--size' && args[1] === '5000' ? 'size 5000 must be an integer in 32..2048' : args[0]);
  }
  const f = path.join(d, 'file');
  fs.writeFileSync(f, '');
  const r = await mdmt('synth', '--out', f, '--n-afc', '1', '--n-bx', '1');
  assert.is(r.code, 2, r.err);
  assert.match(r.err, `mdmt: synth: out '${f}' is a file, not a directory`);
});

test('synth into a folder that holds a data set exits 2 and leaves it whole; --force replaces it', async () => {
  const sx = path.join(tmpDir('cli-synth-again'), 'sx');
  const run = (...a: string[]) => mdmt('synth', '--out', sx, '--size', '32', ...a);
  const dcms = () => fs.readdirSync(path.join(sx, 'BRIXIA', 'dicom_clean')).length;
  const first = await run('--n-afc', '4', '--n-bx', '6');
  assert.is(first.code, 0);
  // what to run next, with flags that finish in seconds (a newcomer guessed them)
  assert.match(first.out, `next: mdmt train --data-afc ${path.join(sx, 'AIforCOVID')} --data-bx ${path.join(sx, 'BRIXIA')} --backbone shufflenet_v2_x0_5 --experiment stl_afc --image-size 64 --batch-size 8 --epochs 4`);
  const again = await run('--n-afc', '2', '--n-bx', '2');
  assert.is(again.code, 2, again.err);
  assert.match(again.err, `mdmt: synth: out '${sx}' is not empty (it holds 'AIforCOVID', 'BRIXIA')`);
  assert.is(dcms(), 6);
  const forced = await run('--n-afc', '2', '--n-bx', '2', '--force');
  assert.is(forced.code, 0, forced.err);
  assert.is(dcms(), 2);
});

test('train --out that is a file exits 2 with a named MdmtError, not EEXIST', async () => {
  const f = path.join(tmpDir('cli-out'), 'file');
  fs.writeFileSync(f, '');
  const r = await mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', f, '--data-afc', root);
  assert.is(r.code, 2, r.err);
  assert.match(r.err, `config.outDir (--out) '${f}' is a file, not a directory`);
  assert.not.match(r.err, 'EEXIST');
});

test('demo --out that is a file exits 2 with a named MdmtError, not EEXIST', async () => {
  const f = path.join(tmpDir('cli-demo-out'), 'file');
  fs.writeFileSync(f, '');
  const r = await mdmt('demo', '--out', f);
  assert.is(r.code, 2, r.err);
  assert.match(r.err, `--out '${f}' is a file, not a directory`);
  assert.not.match(r.err, 'EEXIST');
});

test('MDMT_DEVICE=gpu (refused as the library loads) is one line naming the variable, not an uncaught exception with a stack', async () => {
  const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [path.join(root, 'bin', 'mdmt.js'), 'train', '--help'], { cwd: root, env: { ...process.env, MDMT_DEVICE: 'gpu', MDMT_DEBUG: '0', FORCE_COLOR: '0' } });
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => resolve({ code, err }));
  });
  assert.is(r.err, "mdmt: MDMT_DEVICE: 'gpu' is not a device: cpu, cuda or cuda:N (unset, cpu)\n");
  assert.is(r.code, 1);
});

test('an empty --out, --runs, --heatmaps or --cache-dir exits 2 naming the flag (demo and experiment wrote into the working directory)', async () => {
  const cwd = tmpDir('cli-empty-out');
  const img = path.join(root, 'docs', 'gradcam_example.png');
  const run = (...args: string[]) => new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [path.join(root, 'bin', 'mdmt.js'), ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' } });
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => resolve({ code, err }));
  });
  const cases: [string, string[]][] = [
    ['--out <dir>', ['demo', '--out', '', '--backbones', 'resnet19']],
    ['--runs <dir>', ['experiment', '--runs', '', '--backbones', 'resnet19', '--data-afc', root]],
    ['--out <dir>', ['synth', '--out', ' ']],
    ['--out <dir>', ['train', '--out', '', '--backbone', BB, '--experiment', 'stl_afc', '--data-afc', root]],
    ['--cache-dir <dir>', ['train', '--out', path.join(cwd, 'r'), '--cache-dir', '', '--backbone', BB, '--experiment', 'stl_afc', '--data-afc', root]],
    // an empty --splits-dir was dropped without a word (the run used <out>/splits)
    ['--splits-dir <dir>', ['train', '--out', path.join(cwd, 'r'), '--splits-dir', '', '--backbone', BB, '--experiment', 'stl_afc', '--data-afc', root]],
    ['--out <file>', ['predict', '--weights', img, '--out', '', img]],
    ['--heatmaps <dir>', ['predict', '--weights', img, '--explain', '--heatmaps', '', img]],
    ['--out <file>', ['export', '--weights', img, '--out', '']],
  ];
  for (const [flag, args] of cases) {
    const r = await run(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, `option '${flag}' argument '${args[args.indexOf(flag.split(' ')[0]) + 1]}' is invalid. expected a path (an empty one would be the working directory).`, args.join(' '));
  }
  assert.equal(fs.readdirSync(cwd), [], 'nothing was written into the working directory');
});

test('experiment: an unknown backbone among known ones exits 2 before anything is trained', async () => {
  const runs = path.join(tmpDir('cli-sweep'), 'runs');
  const d = await tinyData();
  const r = await mdmt('experiment', '--runs', runs, '--backbones', `${BB},resnet19`, '--data-afc', d.afc, '--data-bx', d.bx, '--no-progress');
  assert.is(r.code, 2, r.err);
  assert.match(r.err, "unknown backbone 'resnet19' (did you mean resnet18?); nothing was trained");
  assert.not.ok(fs.existsSync(runs));
});

test('mdmt train takes the run lock: a live holder makes it exit 1 naming the process', async () => {
  const d = await tinyData();
  const out = tmpDir('cli-lock');
  fs.writeFileSync(path.join(out, '.lock'), `${process.pid} ${os.hostname()}`); // this test process: alive, not the CLI
  const r = await mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', out, '--data-afc', d.afc, '--no-progress');
  assert.is(r.code, 1, r.err);
  assert.match(r.err, `${out} is being trained by process ${process.pid}`);
  assert.not.ok(fs.existsSync(path.join(out, 'log.jsonl')), 'no log lines interleaved');
});

test('doctor lists the DICOM transfer syntaxes it decodes', async () => {
  const r = await mdmt('doctor');
  assert.is(r.code, 0, r.err);
  for (const uid of ['1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70', '1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.5'])
    assert.match(r.out, new RegExp(`\\n\\s+${uid.replace(/\./g, '\\.')}\\s+\\S`), uid);
});

test.run();
