// `mdmt --help`, `mdmt <cmd> --help` and usage errors load only the command definitions
// (commander, ts/cli/options, train/config): not sharp, protobufjs, the native addon or a
// command's work module (ts/cli/<cmd>.ts). Checked in a fresh Node process that runs the CLI's
// main() on each argument list and then reads require.cache; as a control, the same process
// then runs `inspect` on a missing file, which must load the work (so the check can fail), and
// that error must name the file and say it does not exist (exit 1).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { inspectFile } from '../../ts/cli/inspect';
import { tmpDir } from '../train/_fixture';

const CASES = [
  ['--help'], ['--version'], ['frobnicate'], ['demo', '--bogus'], ['train', '--epochs', 'x'],
  ['train', '--backbone', 'resnet18', '--experiment', 'stl_afc', '--out', '/tmp/never'], // no data: ECONFIG, exit 2
  ...['demo', 'train', 'experiment', 'report', 'predict', 'doctor', 'synth', 'inspect', 'export'].map((c) => [c, '--help']),
];

/** In a child: main() on each case, then what it loaded; then `inspect <missing>`, and what that loaded. */
const CHILD = `
const { main } = require(process.argv[1]);
const heavy = () => Object.keys(require.cache).filter((f) =>
  /[\\\\/]node_modules[\\\\/](sharp|protobufjs)[\\\\/]/.test(f) || f.endsWith('.node') || /[\\\\/]cli[\\\\/](demo|train|experiment|report|predict|doctor|inspect|export)\\.js$/.test(f));
const out = { cases: [] };
process.stdout.write = () => true; process.stderr.write = () => true;
(async () => {
  for (const args of JSON.parse(process.argv[2])) out.cases.push({ args, code: await main(['node', 'mdmt', ...args]), heavy: heavy() });
  out.inspect = { code: await main(['node', 'mdmt', 'inspect', process.argv[3]]), heavy: heavy() };
  require('fs').writeFileSync(process.argv[4], JSON.stringify(out));
})();
`;

test('--help and usage errors load no engine, image or ONNX library; running a command does', () => {
  const dir = tmpDir('cli-lazy');
  const result = path.join(dir, 'out.json');
  const r = spawnSync(process.execPath, ['-e', CHILD, require.resolve('../../ts/cli/main'), JSON.stringify(CASES), path.join(dir, 'missing.dcm'), result],
    { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  assert.is(r.status, 0, `child failed: ${r.stderr}`);
  const out = JSON.parse(fs.readFileSync(result, 'utf8')) as { cases: { args: string[]; code: number; heavy: string[] }[]; inspect: { code: number; heavy: string[] } };
  for (const c of out.cases) {
    assert.equal(c.heavy, [], `mdmt ${c.args.join(' ')} loaded ${c.heavy.join(', ')}`);
    assert.is(c.code, c.args.includes('--help') || c.args[0] === '--version' ? 0 : 2, `exit code of mdmt ${c.args.join(' ')}`);
  }
  assert.is(out.inspect.code, 1, 'inspect of a missing file exits 1');
  assert.ok(out.inspect.heavy.some((f) => /cli[\\/]inspect\.js$/.test(f)), `running inspect loads its work module (control): ${out.inspect.heavy.join(', ')}`);
});

test('inspect names a missing file, and a directory, with what is wrong', async () => {
  const dir = tmpDir('cli-inspect');
  const missing = path.join(dir, 'nope', 'scan.dcm');
  const err = async (f: string) => {
    try {
      await inspectFile(f);
    } catch (e) {
      return e;
    }
    throw new Error(`inspectFile(${f}) did not throw`);
  };
  const e1 = await err(missing);
  assert.instance(e1, MdmtError);
  assert.is((e1 as MdmtError).op, 'inspect');
  assert.is((e1 as MdmtError).code, 'EIO');
  assert.match((e1 as MdmtError).message, `'${missing}' does not exist (ENOENT)`);
  const e2 = await err(dir);
  assert.instance(e2, MdmtError);
  assert.match((e2 as MdmtError).message, `'${dir}' is a directory, not an image file`);
});

test.run();
