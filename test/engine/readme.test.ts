/** The README's example runs as written (imports of 'mdmt' mapped to this checkout). */
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as mdmt from '../../ts/index';
import { packageRoot } from '../../ts/native/binding';

test('README example runs and prints a finite loss and the conv gradient shape', () => {
  const readme = fs.readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
  const m = readme.match(/## Example\s+```ts\n([\s\S]*?)```/);
  assert.ok(m, 'README has an "## Example" ts block');
  const code = m![1].replace(/import \{([^}]*)\} from 'mdmt';/, 'const {$1} = require("mdmt");');
  const logs: unknown[][] = [];
  const fakeRequire = (id: string) => {
    if (id === 'mdmt') return mdmt;
    throw new Error(`the README example imports '${id}': only 'mdmt' is mapped`);
  };
  const fakeConsole = { log: (...a: unknown[]) => logs.push(a) };
  const run = vm.runInThisContext(`(function (require, console) {\n${code}\n})`) as (r: typeof fakeRequire, c: typeof fakeConsole) => void;
  run(fakeRequire, fakeConsole);
  assert.is(logs.length, 1);
  const [, loss, , shape] = logs[0] as [string, number, string, number[]];
  assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  assert.equal(shape, [8, 1, 3, 3]);
});

test.run();
