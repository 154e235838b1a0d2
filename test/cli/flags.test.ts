// Settings the CLI would drop or that would have no effect are refused (exit 2) naming the file
// or flag: a --config whose optim / schedule / data / init is not an object of settings, an
// init file the experiment does not start from, predict's Grad-CAM flags without --explain.
// In process (main()): each case is refused before any data are read.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../ts/cli/main';
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
  assert.match(r.err, "config.init.stlBx is \"" + file + "\" but experiment 'stl_afc' does not use it");
  assert.not.ok(fs.existsSync(path.join(d, 'run')), 'nothing written');
});

test.run();
