/**
 * The CPU inference passes on hand-made graphs (ts/plan/graph.ts): residual fusion
 * (conv2d → add → [act] ⇒ conv2d_act with a residual, placed where the chain ends) and the
 * Winograd weight constants (3×3 stride-1 convs on plan constants ⇒ conv2d_act with
 * pre-transformed weights). Each rewrite is checked for its structure, against
 * validateGraph, and by running the graph before and after (a small interpreter over runOp).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runOp } from '../../ts/ops/op';
import { OpName } from '../../ts/ops/names';
import { addValue, Graph, validateGraph, Value } from '../../ts/plan/graph';
import { fuseConvResidual } from '../../ts/plan/passes/fuse_conv_residual';
import { winogradConsts } from '../../ts/plan/passes/winograd';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { assertClose, DEVICE, Rng } from '../helpers';

const on = DEVICE === 'cpu';

function empty(): Graph {
  return { device: 'cpu', values: new Map(), steps: [], inputs: [], outputs: [], scalars: [], owned: [] };
}
const rng = new Rng(401);
const rand = (shape: number[], scale = 1) => tensor(rng.array(shape.reduce((a, b) => a * b, 1), -scale, scale), shape);
function val(g: Graph, shape: number[], kind: Value['kind'], t?: Tensor): number {
  return addValue(g, { shape, dtype: 'float32', kind, tensor: t }).id;
}

/** Runs the graph on its inputs with runOp, step by step; returns its outputs' values. */
function run(g: Graph, feeds: Tensor[]): Float32Array[] {
  return tidy(() => {
    const vals = new Map<number, Tensor>();
    g.inputs.forEach((id, i) => vals.set(id, feeds[i]));
    const get = (id: number) => vals.get(id) ?? g.values.get(id)!.tensor!;
    for (const s of g.steps) {
      const outs = runOp(s.op as OpName, s.inputs.map(get), s.attrs, s.outputs.map((o) => ({ shape: g.values.get(o)!.shape })));
      s.outputs.forEach((o, i) => vals.set(o, outs[i]));
    }
    return g.outputs.map((o) => get(o).toArray() as Float32Array);
  });
}

const conv = (g: Graph, x: number, w: number, b: number | null, y: number, attrs = {}) =>
  g.steps.push({ op: 'conv2d', inputs: b === null ? [x, w] : [x, w, b], outputs: [y], attrs: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, ...attrs } });

test('fuseConvResidual: relu(conv(x) + shortcut computed after the conv) becomes one conv2d_act in the relu\'s place', () => {
  if (!on) return;
  const g = empty();
  const x = val(g, [2, 8, 6, 6], 'input');
  g.inputs.push(x);
  const w = val(g, [8, 8, 3, 3], 'const', rand([8, 8, 3, 3])), wd = val(g, [8, 8, 1, 1], 'const', rand([8, 8, 1, 1])), bd = val(g, [8], 'const', rand([8]));
  const z = val(g, [2, 8, 6, 6], 'temp'), r = val(g, [2, 8, 6, 6], 'temp'), s = val(g, [2, 8, 6, 6], 'temp'), y = val(g, [2, 8, 6, 6], 'temp');
  conv(g, x, w, null, z); // the block's conv, no bias
  conv(g, x, wd, bd, r, { padding: [0, 0] }); // the shortcut, after it
  g.steps.push({ op: 'add', inputs: [z, r], outputs: [s], attrs: {} }, { op: 'relu', inputs: [s], outputs: [y], attrs: {} });
  g.outputs.push(y);
  validateGraph(g);
  const xt = rand([2, 8, 6, 6]);
  const [before] = run(g, [xt]);
  fuseConvResidual(g);
  validateGraph(g);
  assert.equal(g.steps.map((st) => st.op), ['conv2d', 'conv2d_act']);
  const f = g.steps[1];
  assert.equal([f.inputs[0], f.inputs[1], f.inputs[3], f.outputs[0], f.attrs.act], [x, w, r, y, 'relu']);
  assert.is(g.owned!.length, 1, 'a zero bias made for the bias-less conv, owned by the graph');
  assert.is(g.values.has(z) || g.values.has(s), false, 'the intermediates are gone');
  const [after] = run(g, [xt]);
  assertClose(after, before, { atol: 1e-6, rtol: 1e-6 }, 'fused = unfused');
  g.owned!.forEach((t) => t.dispose());
  xt.dispose();
});

test('fuseConvResidual leaves what it cannot fuse: a broadcast add, add(z, z), a second reader, a graph output', () => {
  if (!on) return;
  for (const kase of ['broadcast', 'self', 'second reader', 'output']) {
    const g = empty();
    const x = val(g, [1, 4, 5, 5], 'input');
    g.inputs.push(x);
    const w = val(g, [4, 4, 3, 3], 'const', rand([4, 4, 3, 3])), b = val(g, [4], 'const', rand([4]));
    const z = val(g, [1, 4, 5, 5], 'temp'), y = val(g, [1, 4, 5, 5], 'temp');
    conv(g, x, w, b, z);
    const other = kase === 'broadcast' ? val(g, [1, 4, 1, 1], 'const', rand([1, 4, 1, 1])) : kase === 'self' ? z : x;
    g.steps.push({ op: 'add', inputs: [z, other], outputs: [y], attrs: {} });
    g.outputs.push(y);
    if (kase === 'second reader') {
      const y2 = val(g, [1, 4, 5, 5], 'temp');
      g.steps.push({ op: 'relu', inputs: [z], outputs: [y2], attrs: {} });
      g.outputs.push(y2);
    }
    if (kase === 'output') g.outputs.push(z);
    fuseConvResidual(g);
    validateGraph(g);
    assert.ok(g.steps.every((st) => st.op !== 'conv2d_act'), `${kase}: not fused`);
    assert.is(g.owned!.length, 0);
  }
});

test('winogradConsts: 3x3 stride-1 convs on bound weights get pre-transformed ones (F(4,3) from 16x16, F(2,3) below), others stay', () => {
  if (!on) return;
  const g = empty();
  const x16 = val(g, [1, 32, 16, 16], 'input'), x8 = val(g, [1, 32, 8, 8], 'input');
  g.inputs.push(x16, x8);
  const w = val(g, [32, 32, 3, 3], 'const', rand([32, 32, 3, 3], 0.1)), b = val(g, [32], 'const', rand([32]));
  const wp = val(g, [32, 32, 3, 3], 'param', rand([32, 32, 3, 3], 0.1)), w1 = val(g, [32, 32, 1, 1], 'const', rand([32, 32, 1, 1]));
  const outs = [val(g, [1, 32, 16, 16], 'temp'), val(g, [1, 32, 8, 8], 'temp'), val(g, [1, 32, 8, 8], 'temp'), val(g, [1, 32, 16, 16], 'temp'),
    val(g, [1, 32, 16, 16], 'temp')];
  conv(g, x16, w, b, outs[0]); // F(4,3)
  conv(g, x8, w, b, outs[1]); // F(2,3)
  conv(g, x16, w, b, outs[2], { stride: [2, 2] }); // stride 2: stays
  conv(g, x16, wp, b, outs[3]); // a parameter: transformed too (a snapshot, as BN folding)
  conv(g, x16, w1, b, outs[4], { padding: [0, 0] }); // 1x1: stays
  g.outputs.push(...outs);
  const feeds = [rand([1, 32, 16, 16]), rand([1, 32, 8, 8])];
  const before = run(g, feeds);
  winogradConsts(g);
  validateGraph(g);
  assert.equal(g.steps.map((st) => [st.op, st.attrs.winograd ?? null]), [['conv2d_act', 4], ['conv2d_act', 2], ['conv2d', null], ['conv2d_act', 4], ['conv2d', null]]);
  assert.equal(g.owned!.map((t) => t.shape), [[36, 32, 32], [16, 32, 32], [36, 32, 32]]);
  const after = run(g, feeds);
  // F(4,3) and F(2,3) against the direct conv, sums of 288 terms: the Winograd tolerances of test/ops/conv2d_act
  after.forEach((a, i) => assertClose(a, before[i], { atol: 1e-5 + 4 * 2e-7 * 288, rtol: 1e-5 }, `conv ${i}`));
  g.owned!.forEach((t) => t.dispose());
  feeds.forEach((t) => t.dispose());
});

test.run();
