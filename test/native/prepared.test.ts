/**
 * Prepare once, run many (native/core/registry.h): a step plan calls each op as its two
 * halves, prepare() (checks + geometry into a spec) and run(spec), where an eager call
 * does both at once. MDMT_OP_PREPARED=1 makes the addon run every op that way; under it
 * the op suites (each against its float64 reference) and the native error suite must
 * pass unchanged, and conv2d (whose suite is too slow to run twice) must give bit-equal
 * results on both paths.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addonPath, packageRoot } from '../../ts/native/binding';
import { DEVICE } from '../helpers';

const root = packageRoot();
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'); // uvu's colours
const SUITES = 'ops/(activations|batchnorm|dropout|elementwise|layout|linear|masked_xent|memory|pool|reduce)|native/errors';

test('under MDMT_OP_PREPARED=1 the op suites and the error suite pass as they are', () => {
  const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
  const r = spawnSync(process.execPath, [uvu, 'dist/test', `(${SUITES})\\.test\\.js$`], {
    cwd: root,
    env: { ...process.env, MDMT_OP_PREPARED: '1' },
    encoding: 'utf8',
  });
  const out = `${r.stdout}\n${r.stderr}`.replace(ANSI, '');
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0), passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? -1);
  assert.ok(total >= 40, `expected the suites to run (${total} tests):\n${out.slice(-2000)}`);
  assert.is(r.status, 0, `a suite failed with MDMT_OP_PREPARED=1:\n${out.slice(-3000)}`);
  assert.is(passed, total);
});

// A child loads the addon, runs conv2d and both backward ops over a few geometries
// (groups, depthwise, stride, dilation, padding, bias) and prints the outputs.
const CONV_SCRIPT = `
  const m = require(${JSON.stringify(addonPath())});
  const dev = ${JSON.stringify(DEVICE)};
  let s = 12345;
  const rand = (n) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1);
  const t = (shape) => { const id = m.alloc(shape, 'float32', dev); m.upload(id, rand(shape.reduce((a, b) => a * b, 1))); return id; };
  const cases = [
    { x: [2, 4, 9, 7], w: [6, 2, 3, 3], y: [2, 6, 5, 4], a: { stride: [2, 2], padding: [1, 1], groups: 2 } },
    { x: [1, 8, 10, 10], w: [8, 1, 3, 3], y: [1, 8, 10, 10], a: { padding: [2, 2], dilation: [2, 2], groups: 8 } },
    { x: [3, 5, 6, 6], w: [7, 5, 1, 1], y: [3, 7, 6, 6], a: {} },
  ];
  const out = [];
  for (const c of cases) {
    const x = t(c.x), w = t(c.w), b = t([c.w[0]]), dy = t(c.y);
    const y = m.alloc(c.y, 'float32', dev), dx = m.alloc(c.x, 'float32', dev), dw = m.alloc(c.w, 'float32', dev);
    m.run('conv2d', [x, w, b], [y], c.a);
    m.run('conv2d_bwd_data', [dy, w], [dx], c.a);
    m.run('conv2d_bwd_filter', [dy, x], [dw], c.a);
    out.push([y, dx, dw].map((id) => Array.from(m.download(id))));
  }
  console.log(JSON.stringify(out));`;

test('conv2d, conv2d_bwd_data, conv2d_bwd_filter: prepared and eager runs give bit-equal results', () => {
  const run = (prepared: boolean) => {
    const r = spawnSync(process.execPath, ['-e', CONV_SCRIPT], {
      env: { ...process.env, MDMT_OP_PREPARED: prepared ? '1' : '0' },
      encoding: 'utf8',
    });
    assert.is(r.status, 0, `child (prepared=${prepared}) failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as number[][][];
  };
  const eager = run(false), prepared = run(true);
  assert.is(eager.length, 3);
  assert.ok(eager.every((c) => c.every((a) => a.length > 0 && a.some((v) => v !== 0))), 'outputs must not be empty or zero');
  assert.equal(prepared, eager);
});

test.run();
