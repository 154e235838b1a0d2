// Settings the CLI would drop or that would have no effect are refused (exit 2) naming the file
// or flag: a --config whose optim / schedule / data / init is not an object of settings, an
// init file the experiment does not start from, predict's Grad-CAM flags without --explain.
// In process (main()): each case is refused before any data are read.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildProgram, main } from '../../ts/cli/main';
import { synth } from '../../ts/data/synth';
import { loadRecords } from '../../ts/train/data';
import { tmpDir } from '../train/_fixture';

const BB = 'shufflenet_v2_x0_5';

/** Runs the CLI in this process; returns the exit code and what it wrote to stderr. */
async function mdmt(...args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'mdmt', ...args]), err };
  } finally {
    process.stderr.write = write;
  }
}

test('help shows list defaults as they are typed (demo printed ["cv","loco"], which --protocols refuses)', () => {
  for (const cmd of buildProgram().commands) {
    const help = cmd.helpInformation().replace(/\s+/g, ' ');
    assert.not.match(help, /default: [[{]/, `${cmd.name()} --help`);
  }
  const demo = buildProgram().commands.find((c) => c.name() === 'demo')!;
  const help = demo.helpInformation().replace(/\s+/g, ' ');
  assert.match(help, '--protocols <list> cv,loco (default: cv,loco)');
  assert.match(help, '(default: shufflenet_v2_x0_5,shufflenet_v2_x1_0,mobilenet_v2)');
  // the defaults themselves are still the lists
  demo.parseOptions([]);
  assert.equal(demo.opts().protocols, ['cv', 'loco']);
  assert.equal(demo.opts().backbones, ['shufflenet_v2_x0_5', 'shufflenet_v2_x1_0', 'mobilenet_v2']);
});

test('--config: optim, schedule, data and init must be objects of settings', async () => {
  const d = tmpDir('cli-groups');
  const cfg = path.join(d, 'c.json');
  const cases: [object, string][] = [
    [{ optim: 0.01, schedule: 5, data: 3 }, 'config.data must be an object of settings, got 3'],
    [{ optim: 0.01 }, 'config.optim must be an object of settings, got 0.01'],
    [{ schedule: true }, 'config.schedule must be an object of settings, got true'],
    [{ optim: 'abc' }, 'config.optim must be an object of settings, got "abc"'],
    [{ init: [] }, 'config.init must be an object of settings, got []'],
  ];
  for (const [file, msg] of cases) {
    fs.writeFileSync(cfg, JSON.stringify(file));
    for (const cmd of [['train', '--backbone', BB, '--experiment', 'stl_afc', '--out', path.join(d, 'run')], ['experiment', '--runs', path.join(d, 'runs'), '--backbones', BB]]) {
      const r = await mdmt(...cmd, '--data-afc', d, '--config', cfg, '--no-progress');
      assert.is(r.code, 2, `${JSON.stringify(file)}: ${r.err}`);
      assert.match(r.err, `--config: ${cfg}: ${msg}`);
    }
  }
  assert.not.ok(fs.existsSync(path.join(d, 'run')) || fs.existsSync(path.join(d, 'runs')), 'nothing written');
});

test('a misspelt required flag is named as unknown, not reported missing (it said "required option \'--backbone <name>\' not specified")', async () => {
  const d = tmpDir('cli-misspelt');
  const r = await mdmt('train', '--backbon', BB, '--experiment', 'mdmt', '--out', path.join(d, 'run'));
  assert.is(r.code, 2, r.err);
  assert.match(r.err, "error: unknown option '--backbon'");
  assert.match(r.err, 'Did you mean --backbone?');
  assert.not.match(r.err, 'required option');
  const eq = await mdmt('experiment', '--backbones', BB, '--runz=x');
  assert.match(eq.err, "error: unknown option '--runz'", eq.err);
  // nothing unknown: the missing flag is still named
  const miss = await mdmt('train', '--experiment', 'mdmt', '--out', path.join(d, 'run'));
  assert.is(miss.code, 2);
  assert.match(miss.err, "error: required option '--backbone <name>' not specified");
  assert.not.ok(fs.existsSync(path.join(d, 'run')), 'nothing written');
});

test('flags that would have no effect: an init the experiment does not use, Grad-CAM settings without --explain', async () => {
  const d = tmpDir('cli-noeffect');
  const file = path.join(d, 'best.safetensors');
  fs.writeFileSync(file, '');
  const train = (...a: string[]) => mdmt('train', '--backbone', BB, '--out', path.join(d, 'run'), '--data-afc', d, '--data-bx', d, '--no-progress', ...a);
  const cases: [() => Promise<{ code: number; err: string }>, string][] = [
    [() => train('--experiment', 'stl_afc', '--init-stl-bx', file), 'train: --init-stl-bx is not used by --experiment stl_afc (an STL run starts from its ImageNet or random weights)'],
    [() => train('--experiment', 'stl_bx', '--init-stl-afc', file, '--init-stl-bx', file), '--init-stl-afc, --init-stl-bx are not used by --experiment stl_bx'],
    [() => train('--experiment', 'ft', '--init-stl-afc', file, '--init-stl-bx', file), '--init-stl-afc is not used by --experiment ft (ft starts from --init-stl-bx alone)'],
    [() => train('--experiment', 'stl_afc', '--afc-loss', 'mse'), 'train: --afc-loss is for --experiment mdmt (STL τ1 and FT train τ1 with cross-entropy): it would have no effect here'],
    [() => train('--experiment', 'ft', '--init-stl-bx', file, '--afc-fraction', '0.5', '--bx-loco-fold', '1'), 'train: --afc-fraction is for --experiment mdmt (its mixed batches); --bx-loco-fold is for --protocol loco'],
    [() => mdmt('predict', '--weights', file, '--heatmaps', d, 'x.png'), 'predict: --heatmaps is for --explain (Grad-CAM overlays), which was not given'],
    [() => mdmt('predict', '--weights', file, '--explain-task', 'bx', '--explain-class', '1', 'x.png'), 'predict: --explain-task, --explain-class are for --explain'],
  ];
  for (const [p, msg] of cases) {
    const r = await p(); // one at a time: stderr is captured
    assert.is(r.code, 2, r.err);
    assert.match(r.err, msg);
  }
  // a --config file's init files reach train() (they were dropped, and now an unused one is named)
  const cfg = path.join(d, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ init: { stlBx: file } }));
  const r = await train('--experiment', 'stl_afc', '--config', cfg);
  assert.is(r.code, 2, r.err);
  assert.match(r.err, "config.init.stlBx (--init-stl-bx) is \"" + file + "\" but experiment 'stl_afc' does not use it");
  assert.not.ok(fs.existsSync(path.join(d, 'run')), 'nothing written');
});

test('demo --skip-bad leaves an unreadable image out, as the hint the failure prints says (demo had no --skip-bad)', async () => {
  const d = tmpDir('cli-demo-skip');
  const { bxRoot } = await synth(path.join(d, 'data'), { seed: 3, nAfc: 30, nBx: 40, size: 32 });
  const img = (await loadRecords({ bx: bxRoot })).bx.map((r) => r.image).sort()[7];
  fs.writeFileSync(img, fs.readFileSync(img).subarray(0, 200));
  const demo = (out: string, ...a: string[]) => mdmt('demo', '--data', path.join(d, 'data'), '--out', path.join(d, out), '--backbones', BB, '--protocols', 'cv',
    '--folds', '1', '--k-folds', '3', '--epochs', '1', '--warmup', '0', '--batch-size', '8', '--no-progress', ...a);
  let r = await demo('a');
  assert.match(r.err, /FAILED: train: 1 image of the split cannot be read .*\(--skip-bad of mdmt train, experiment and demo\)/);
  r = await demo('b', '--skip-bad');
  assert.is(r.code, 0, r.err);
  const run = path.join(d, 'b', 'runs', 'cv', BB, 'stl_bx', 'fold0');
  const res = JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8')) as { result: { skipped: { file: string }[] } };
  assert.equal(res.result.skipped.map((b) => b.file), [img]);
});

test('--afc-releases reads only the releases given, --skip-bad leaves unreadable images out (listed in result.json)', async () => {
  const d = tmpDir('cli-releases');
  const { afcRoot } = await synth(d, { seed: 5, nAfc: 30, nBx: 0, size: 32 });
  for (const f of ['AIforCOVID_r2.xlsx', 'AIforCOVID_r3.xlsx']) fs.rmSync(path.join(afcRoot, f));
  // corrupt a MILD (majority-class) image: leaving out a SEVERE one could empty a fold's train part
  // of its only SEVERE record, which is a different refusal, whatever way the split draws its chunks
  const recs = (await loadRecords({ afc: afcRoot, afcReleases: [1] })).afc.filter((r) => r.label === 0 && r.image.endsWith('.dcm')).map((r) => r.image).sort();
  assert.ok(recs.length >= 5, 'the synthetic release 1 has MILD DICOM images');
  const img = recs[4];
  fs.writeFileSync(img, fs.readFileSync(img).subarray(0, 200));
  const out = path.join(d, 'run');
  const train = (...a: string[]) => mdmt('train', '--backbone', BB, '--experiment', 'stl_afc', '--out', out, '--data-afc', afcRoot, '--no-progress',
    '--image-size', '32', '--batch-size', '8', '--epochs', '1', '--warmup', '0', '--k-folds', '3', '--random-init', '--workers', '0', ...a);
  let r = await train();
  assert.is(r.code, 1, r.err);
  assert.match(r.err, 'give --afc-releases 1 to mdmt train or mdmt experiment');
  r = await train('--afc-releases', '1');
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /1 image of the split cannot be read \(nothing was trained\): .*; fix or remove them, or leave them out with data.onBadRecord: 'skip' \(--skip-bad of mdmt train, experiment and demo\)/);
  r = await train('--afc-releases', '1', '--skip-bad');
  assert.is(r.code, 0, r.err);
  const res = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8')) as { result: { skipped: { file: string }[] } };
  assert.equal(res.result.skipped.map((b) => b.file), [img]);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as { data: { afcReleases: number[]; onBadRecord: string } };
  assert.equal([cfg.data.afcReleases, cfg.data.onBadRecord], [[1], 'skip']);
  // without --data-afc the flag would select nothing
  r = await mdmt('train', '--backbone', BB, '--experiment', 'stl_bx', '--out', path.join(d, 'bx'), '--data-bx', d, '--afc-releases', '1', '--no-progress');
  assert.is(r.code, 2, r.err);
  assert.match(r.err, '--afc-releases: selects the sheets of --data-afc, which was not given: it would have no effect');
});

test.run();
