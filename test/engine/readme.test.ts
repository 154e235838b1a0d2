/** The README's example runs as written (imports of 'mdmt' mapped to this checkout). */
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as mdmt from '../../ts/index';
import { packageRoot } from '../../ts/native/binding';
import { PREDICT_CALL_KEYS, PREDICTOR_KEYS } from '../../ts/predict/options';
import { CODE_PRESET, PAPER_OPTIM, PAPER_RUN, PAPER_SCHEDULE } from '../../ts/train/config';

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

test("the README's table of training defaults states config.ts's values (their one owner)", () => {
  const readme = fs.readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
  const row = (head: string) => {
    const line = readme.split('\n').find((l) => l.startsWith(`| ${head} |`));
    assert.ok(line, `README has the defaults row '${head}'`);
    return line!;
  };
  /** the number written after `key` in the row (and after `key:` for the code's value) */
  const value = (line: string, key: string, sep = ' ') => {
    const m = line.match(new RegExp(`\`${key}\`${sep}([0-9.e+-]+)`) ) ?? line.match(new RegExp(`\`${key}${sep}([0-9.e+-]+)\``));
    assert.ok(m, `'${key}' has a value in: ${line}`);
    return Number(m![1]);
  };
  const optim = row('`optim`');
  assert.is(value(optim, 'lr'), PAPER_OPTIM.lr);
  assert.is(value(optim, 'weightDecay'), PAPER_OPTIM.weightDecay);
  assert.is(value(optim, 'weightDecay', ': '), CODE_PRESET.optim.weightDecay);
  const schedule = row('`schedule`');
  for (const [k, v] of Object.entries(PAPER_SCHEDULE)) assert.is(value(schedule, k), v, `schedule.${k}`);
  assert.is(value(schedule, 'earlyStopping', ': '), CODE_PRESET.schedule.earlyStopping);
  assert.is(value(schedule, 'warmupEpochs', ': '), CODE_PRESET.schedule.warmupEpochs);
  assert.match(row('`batchSize`, `imageSize`'), `| ${PAPER_RUN.batchSize}, ${PAPER_RUN.imageSize} |`);
  assert.match(row('`protocol`, `fold`, `kFolds`, `bxLocoFold`'), `| \`'cv'\`, 0, ${PAPER_RUN.kFolds}, 0 |`);
});

test("the README's notes on openPredictor() name options.ts's two option sets, what it keeps, dispose() and overlapping calls", () => {
  const readme = fs.readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
  const notes = readme.split('\n\n').find((p) => p.startsWith('`openPredictor()` '));
  assert.ok(notes, 'README has a paragraph on openPredictor() after its example');
  const flat = notes!.replace(/\s+/g, ' ');
  const list = (from: string, to: string) => flat.slice(flat.indexOf(from), flat.indexOf(to, flat.indexOf(from)));
  const named = (text: string) => new Set([...text.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]));
  assert.equal(named(list("the model's (", 'are fixed')), new Set(Object.keys(PREDICTOR_KEYS)), "the model's options");
  assert.equal(named(list("each call's (", 'are given per call')), new Set(Object.keys(PREDICT_CALL_KEYS)), "each call's options");
  for (const said of ['until `dispose()`', 'garbage collector does not free', 'in a `finally`', 'Calls may overlap', '`explain.dir`', '(`EBUSY`, naming the folder)', '`EDISPOSED`', 'waits for no call'])
    assert.ok(flat.includes(said), `the notes say ${said}`);
});

test.run();
