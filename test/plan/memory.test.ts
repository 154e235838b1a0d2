/**
 * The memory side of plans. 200 replayed steps of a tiny model (conv-BN-ReLU-pool-linear
 * with dropout, Adam) leave the live-tensor count, the native live bytes and the process's
 * resident memory flat (after the first steps warm the allocator). The memory pass, on
 * graphs built by hand: lifetimes that overlap never share bytes, views share their
 * source's bytes, an elementwise op overwrites an input that dies at it, and plan inputs
 * and outputs are never overwritten.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { native } from '../../ts/native/binding';
import { BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool2d, Linear, ReLU, Sequential } from '../../ts/nn';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim';
import { Graph, Step, validateGraph, Value } from '../../ts/plan/graph';
import { dce } from '../../ts/plan/passes/dce';
import { memory, memoryPlan, valueBytes } from '../../ts/plan/passes/memory';
import { compileStep } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tidy } from '../../ts/tensor';
import { deviceAvailable, Rng } from '../helpers';

test('200 replayed steps: live tensors, native bytes and resident memory stay flat', () => {
  if (!deviceAvailable('plan memory')) return;
  manualSeed(1);
  const net = new Sequential(new Conv2d(3, 8, 3, { padding: 1 }), new BatchNorm2d(8), new ReLU(), new GlobalAvgPool2d(), new Flatten(),
    new Dropout(0.3), new Linear(8, 3));
  const opt = new Adam(net.parameters(), { lr: 1e-2 });
  const step = compileStep(([x, y, m]) => {
    const l = maskedXent(net.forward(x) as never, y, m);
    backward(l);
    opt.step();
    opt.zeroGrad();
    return [l];
  });
  const rng = new Rng(3);
  const x = Float32Array.from({ length: 4 * 3 * 8 * 8 }, () => rng.uniform(-1, 1));
  const y = Int32Array.of(0, 1, 2, 1), m = Float32Array.of(1, 1, 1, 1);
  const run = () => tidy(() => step.run([{ data: x, shape: [4, 3, 8, 8] }, { data: y, shape: [4] }, { data: m, shape: [4] }])[0].item());
  try {
    for (let i = 0; i < 20; i++) run();
    const live = liveTensorCount(), bytes = native().memStats('cpu').liveBytes, rss = process.memoryUsage().rss;
    let first = 0, last = 0;
    for (let i = 0; i < 200; i++) {
      const l = run();
      if (i === 0) first = l;
      last = l;
    }
    assert.is(step.recordings, 1);
    assert.is(liveTensorCount(), live, 'live tensors');
    assert.is(native().memStats('cpu').liveBytes, bytes, 'native live bytes');
    const grew = process.memoryUsage().rss - rss;
    assert.ok(grew < 8 * 2 ** 20, `resident memory grew by ${(grew / 2 ** 20).toFixed(1)} MiB over 200 steps`);
    assert.ok(last < first, `the replayed steps train: loss ${first} -> ${last}`);
  } finally {
    step.dispose();
    opt.dispose();
    net.dispose();
  }
});

// ---- the memory pass on hand-built graphs ---------------------------------------------------

function graph(values: [number, Value['kind'], number[]][], steps: [Step['op'], number[], number[]][], inputs: number[], outputs: number[]): Graph {
  const g: Graph = { device: 'cpu', values: new Map(), steps: [], inputs, outputs, scalars: [] };
  for (const [id, kind, shape] of values) g.values.set(id, { id, kind, shape, dtype: 'float32' });
  for (const [op, i, o] of steps) g.steps.push({ op, inputs: i, outputs: o, attrs: {} });
  validateGraph(g);
  return g;
}

/** No two arena values whose lifetimes overlap share a byte, unless one is a view or in-place result of the other. */
function assertNoClash(g: Graph, related: (a: number, b: number) => boolean): void {
  const life = new Map<number, [number, number]>();
  const touch = (v: number, i: number) => {
    const l = life.get(v);
    life.set(v, l ? [Math.min(l[0], i), Math.max(l[1], i)] : [i, i]);
  };
  for (const id of g.inputs) touch(id, -1);
  g.steps.forEach((s, i) => [...s.inputs, ...s.outputs].forEach((v) => touch(v, i)));
  for (const id of g.outputs) touch(id, g.steps.length);
  const arena = [...g.values.values()].filter((v) => v.offset !== undefined);
  for (const a of arena)
    for (const b of arena) {
      if (a.id >= b.id || related(a.id, b.id)) continue;
      const [la, lb] = [life.get(a.id)!, life.get(b.id)!];
      const timeOverlap = la[0] <= lb[1] && lb[0] <= la[1];
      const byteOverlap = a.offset! < b.offset! + valueBytes(b) && b.offset! < a.offset! + valueBytes(a);
      assert.ok(!(timeOverlap && byteOverlap), `values ${a.id} and ${b.id} are live together and share bytes`);
      assert.ok(a.offset! + valueBytes(a) <= g.arenaBytes!, `value ${a.id} lies outside the arena`);
    }
}

test('memory pass: random chains and fan-outs never share live bytes; reuse makes the arena smaller than the sum', () => {
  const rng = new Rng(9);
  for (let trial = 0; trial < 40; trial++) {
    const values: [number, Value['kind'], number[]][] = [[0, 'input', [rng.int(1, 64)]], [1, 'param', [4]]];
    const steps: [Step['op'], number[], number[]][] = [];
    let next = 2;
    for (let k = 0; k < 30; k++) {
      const ins = [rng.int(0, next - 1), rng.int(0, next - 1)].filter((v) => v !== 1 || rng.next() < 0.5);
      values.push([next, 'temp', [rng.int(1, 256)]]);
      steps.push([rng.pick(['conv2d', 'linear', 'concat'] as const), ins, [next]]);
      next++;
    }
    const g = memoryPlan({ inPlace: false })(graph(values, steps, [0], [next - 1]));
    assertNoClash(g, () => false);
    const total = [...g.values.values()].filter((v) => v.kind !== 'param').reduce((s, v) => s + Math.ceil(valueBytes(v) / 64) * 64, 0);
    assert.ok(g.arenaBytes! <= total);
  }
});

test('memory pass: a view shares its source; in place only where the input dies and never over inputs or outputs', () => {
  const g = memory(graph(
    [[0, 'input', [2, 8]], [1, 'temp', [2, 8]], [2, 'temp', [16]], [3, 'temp', [16]], [4, 'temp', [16]], [5, 'temp', [16]], [6, 'temp', [16]]],
    [['relu', [0], [1]], ['reshape', [1], [2]], ['relu', [2], [3]], ['sigmoid', [3], [4]], ['add', [3], [5]], ['relu', [4], [6]]],
    [0], [6]));
  const off = (id: number) => g.values.get(id)!.offset!;
  assert.is.not(off(1), off(0), 'relu does not overwrite the plan input');
  assert.is(off(2), off(1), 'a view shares its source');
  assert.is(off(3), off(2), 'relu overwrites its input (dead after it)');
  assert.is.not(off(4), off(3), 'sigmoid does not overwrite 3: add reads 3 after it');
  assert.is(off(5), off(3), 'add overwrites 3, dead after it');
  assert.is.not(off(6), off(4), 'a plan output is never written in place');
  const shared = new Set([1, 2, 3, 5]);
  assertNoClash(g, (a, b) => shared.has(a) && shared.has(b));
});

test('dce drops steps nobody reads but keeps writes of bound state', () => {
  const g = dce(graph(
    [[0, 'input', [4]], [1, 'temp', [4]], [2, 'temp', [4]], [3, 'param', [4]], [4, 'temp', [4]]],
    [['relu', [0], [1]], ['sigmoid', [0], [2]], ['copy', [1], [3]], ['relu', [1], [4]]],
    [0], [4]));
  assert.equal(g.steps.map((s) => s.op), ['relu', 'copy', 'relu']);
  assert.not.ok(g.values.has(2));
});

test.run();
