/**
 * The NHWC layout pass (ts/plan/passes/nhwc.ts) on hand-built graphs: where the steps run,
 * where the reorders go (plan edges and ops without an NHWC form only, once per value, none
 * for values whose layouts coincide), cast+reorder fusion, and — through the CPU interpreter
 * that stores NHWC values in NHWC byte order — that the rewritten step computes exactly what
 * the original computes, while a wrong layout table visibly does not.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP_NAMES } from '../../ts/ops/names';
import { Graph, validateGraph } from '../../ts/plan/graph';
import { layoutFree } from '../../ts/plan/passes/convert';
import { CUDA_NHWC_OPS, LAYOUT_POLICY, nhwc } from '../../ts/plan/passes/nhwc';
import { precision } from '../../ts/plan/passes/precision';
import { Builder, residualStep } from './_graphs';
import { disposeAll, interpret, logical } from './_interp';
import { tensor } from '../../ts/tensor';

const ALL = new Set<string>(OP_NAMES);
const lay = (g: Graph, id: number) => g.values.get(id)!.layout ?? 'nchw';
const name = (g: Graph, id: number) => g.values.get(id)!.name ?? `#${id}`;
const reorders = (g: Graph) => g.steps.filter((s) => s.op === 'reorder').map((s) => `${name(g, s.inputs[0])}:${s.attrs.from}→${s.attrs.to}`);

/** Every step reads what it expects: NHWC operands only where the step runs NHWC or is elementwise. */
function assertConsistent(g: Graph): void {
  for (const s of g.steps) {
    if (s.op === 'reorder') {
      assert.is(lay(g, s.inputs[0]), s.attrs.from, `reorder from ${name(g, s.inputs[0])}`);
      assert.is(lay(g, s.outputs[0]), s.attrs.to);
      continue;
    }
    const ops4 = [...s.inputs, ...s.outputs].filter((id) => g.values.get(id)!.shape.length === 4 && !layoutFree(g.values.get(id)!.shape));
    const layouts = new Set(ops4.map((id) => lay(g, id)));
    const where = `${s.op} ${s.inputs.map((i) => `${name(g, i)}:${lay(g, i)}`)}`;
    if (s.attrs.layout === 'nhwc') assert.equal([...layouts].filter((l) => l !== 'nhwc'), [], `${where}: an NHWC step reads NCHW`);
    else if (LAYOUT_POLICY[s.op as keyof typeof LAYOUT_POLICY] === 'any' || s.op === 'add' || s.op === 'mul' ||
      (s.op === 'reshape' && g.values.get(s.inputs[0])!.shape.join() === g.values.get(s.outputs[0])!.shape.join()))
      assert.ok(layouts.size <= 1, `${where}: elementwise over mixed layouts`);
    else assert.not.ok(layouts.has('nhwc'), `${where}: an NCHW step reads NHWC`);
  }
  for (const id of g.outputs) assert.ok(layoutFree(g.values.get(id)!.shape) || lay(g, id) === 'nchw', 'plan outputs leave as NCHW');
}

test('policy: every op has a layout rule; the CUDA set names only ops with an NHWC form', () => {
  for (const op of OP_NAMES) assert.ok(LAYOUT_POLICY[op], `no layout rule for ${op}`);
  for (const op of CUDA_NHWC_OPS) assert.ok(['nhwc', 'binary'].includes(LAYOUT_POLICY[op as keyof typeof LAYOUT_POLICY]), op);
});

test('residual step, bf16 + NHWC: convs, BatchNorm and the pool in NHWC, reorders only at the plan edges', () => {
  const { b, bound } = residualStep();
  const g = nhwc()(precision({ lowOps: new Set([...ALL, 'reshape']) })(b.g));
  validateGraph(g, 'test');
  assertConsistent(g);
  for (const s of g.steps.filter((x) => /^(conv2d|batchnorm|maxpool)/.test(x.op))) assert.is(s.attrs.layout, 'nhwc', s.op);
  assert.equal(reorders(g).sort(), [
    'conv1.weight:nchw→nhwc', 'conv2.weight:nchw→nhwc', 'dconv1.weight:nhwc→nchw', 'dconv2.weight:nhwc→nchw', 'images:nchw→nhwc',
  ], 'images in, weight copies, weight gradients out');
  // cast fused into reorder: the weight's bf16 NHWC copy straight from the fp32 NCHW master, and back for Adam
  const w = g.steps.find((s) => s.op === 'reorder' && name(g, s.inputs[0]) === 'conv1.weight')!;
  assert.equal([g.values.get(w.inputs[0])!.dtype, g.values.get(w.outputs[0])!.dtype], ['float32', 'bfloat16']);
  const dw = g.steps.find((s) => s.op === 'reorder' && name(g, s.inputs[0]) === 'dconv2.weight')!;
  assert.equal([g.values.get(dw.inputs[0])!.dtype, g.values.get(dw.outputs[0])!.dtype], ['bfloat16', 'float32']);
  assert.not.ok(g.steps.some((s) => s.op === 'cast' && g.values.get(s.inputs[0])!.shape.length === 4), 'no 4-D cast left unfused');
  for (const [, v] of g.values) if (v.kind !== 'temp') assert.is(v.layout, undefined, `${v.name}: bound values stay NCHW`);
  // the gathering NHWC pool backward carries its forward's window
  const mb = g.steps.find((s) => s.op === 'maxpool2d_bwd')!;
  assert.equal([mb.attrs.kernel, mb.attrs.stride, mb.attrs.padding], [[2, 2], [2, 2], [0, 0]]);
  for (const t of bound) t.dispose();
});

test('an op without an NHWC kernel runs NCHW between reorders (the pool, here)', () => {
  const { b, bound } = residualStep();
  const g = nhwc({ ops: new Set([...CUDA_NHWC_OPS].filter((o) => !o.startsWith('maxpool'))) })(b.g);
  assertConsistent(g);
  assert.equal(reorders(g).sort(), [
    'a1:nhwc→nchw', 'conv1.weight:nchw→nhwc', 'conv2.weight:nchw→nhwc', 'da1:nchw→nhwc', 'dconv1.weight:nhwc→nchw',
    'dconv2.weight:nhwc→nchw', 'dp1:nhwc→nchw', 'images:nchw→nhwc', 'p1:nchw→nhwc',
  ]);
  for (const t of bound) t.dispose();
});

for (const [label, ops] of [['CUDA set', CUDA_NHWC_OPS], ['without NHWC pools', new Set([...CUDA_NHWC_OPS].filter((o) => !o.includes('pool')))]] as const) {
  test(`NHWC step (${label}) computes exactly what the NCHW step computes: loss, weights, moments, statistics`, () => {
    const fx = residualStep(4, 3, 8, 6, 3, 21), fx2 = residualStep(4, 3, 8, 6, 3, 21);
    const g = nhwc({ ops })(fx2.b.g);
    assertConsistent(g);
    const ref = interpret(fx.b.g, fx.feed), got = interpret(g, fx2.feed);
    for (const [id, v] of fx.b.g.values) {
      if (v.kind === 'param' || fx.b.g.outputs.includes(id))
        assert.equal(Array.from(logical(g, got, fx2.b.id(v.name!))), Array.from(logical(fx.b.g, ref, id)), `${v.name} bit-exact`);
    }
    disposeAll(ref);
    disposeAll(got);
    for (const t of [...fx.bound, ...fx2.bound]) t.dispose();
  });
}

test('a wrong table is caught: claiming the pool is elementwise changes the numbers', () => {
  const fx = residualStep(4, 3, 8, 6, 3, 21), fx2 = residualStep(4, 3, 8, 6, 3, 21);
  const g = nhwc({ policy: { ...LAYOUT_POLICY, maxpool2d: 'any', maxpool2d_bwd: 'any' } })(fx2.b.g);
  const ref = interpret(fx.b.g, fx.feed), got = interpret(g, fx2.feed);
  const l0 = logical(fx.b.g, ref, fx.b.g.outputs[0])[0], l1 = logical(g, got, g.outputs[0])[0];
  assert.ok(l0 !== l1, `a pool over NHWC bytes read as NCHW must change the loss (${l0} vs ${l1})`);
  disposeAll(ref);
  disposeAll(got);
  for (const t of [...fx.bound, ...fx2.bound]) t.dispose();
});

test('a reshape that keeps the shape (an elided copy) passes NHWC through; a flattening one reads NCHW', () => {
  const b = new Builder();
  const x = b.value('x', [2, 4, 5, 5], 'input'), w = b.value('w', [4, 4, 3, 3], 'param');
  const y = b.value('y', [2, 4, 5, 5]), v = b.value('view', [2, 4, 5, 5]), z = b.value('z', [2, 4, 5, 5]), f = b.value('flat', [2, 100]);
  const conv = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
  b.step('conv2d', [x, w], [y], conv);
  b.step('reshape', [y], [v], { shape: [2, 4, 5, 5] });
  b.step('conv2d', [v, w], [z], conv);
  b.step('reshape', [z], [f], { shape: [2, 100] });
  b.g.outputs = [f];
  const g = nhwc()(b.g);
  assertConsistent(g);
  assert.equal(reorders(g), ['x:nchw→nhwc', 'w:nchw→nhwc', 'z:nhwc→nchw'], 'the view stays NHWC; the flatten gets NCHW bytes');
});

/** conv 1×1 → global pool → sigmoid → x·gate (squeeze-excite) → + a C = 1 map */
function seGraph(): Builder {
  const b = new Builder();
  const x = b.value('x', [2, 4, 5, 5], 'input'), w = b.value('w1x1', [8, 4, 1, 1], 'param');
  const y = b.value('y', [2, 8, 5, 5]), p = b.value('pooled', [2, 8, 1, 1]), sg = b.value('gate', [2, 8, 1, 1]), z = b.value('z', [2, 8, 5, 5]);
  const one = b.value('one', [2, 1, 5, 5], 'input'), u = b.value('u', [2, 8, 5, 5]);
  b.step('conv2d', [x, w], [y], { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 });
  b.step('global_avgpool', [y], [p]);
  b.step('sigmoid', [p], [sg]);
  b.step('mul', [y, sg], [z]); // broadcast over H, W
  b.step('add', [z, one], [u]); // broadcast over C from a C = 1 plan input
  b.g.outputs = [u];
  return b;
}

test('values whose layouts coincide are never reordered: 1×1 weights, [N, C, 1, 1] maps, C = 1', () => {
  const g = nhwc()(seGraph().g);
  assertConsistent(g);
  assert.equal(reorders(g), ['x:nchw→nhwc', 'u:nhwc→nchw'], 'only the plan edges');
  assert.is(g.steps.find((s) => s.op === 'mul')!.attrs.layout, 'nhwc', 'broadcasting mul runs in its NHWC form');
  // without an NHWC broadcasting kernel the mul runs NCHW between reorders
  const g2 = nhwc({ ops: new Set(['conv2d', 'global_avgpool']) })(seGraph().g);
  assertConsistent(g2);
  assert.is(g2.steps.find((s) => s.op === 'mul')!.attrs.layout, undefined);
  assert.equal(reorders(g2), ['x:nchw→nhwc', 'y:nhwc→nchw']);
});

test('broadcasting in NHWC computes what NCHW computes (interpreted)', () => {
  const feed = [Float32Array.from({ length: 200 }, (_, i) => Math.sin(i)), Float32Array.from({ length: 50 }, (_, i) => Math.cos(i))];
  const ref = seGraph(), b = seGraph();
  const wt = tensor(Float32Array.from({ length: 32 }, (_, i) => (i % 7) / 7 - 0.5), [8, 4, 1, 1]);
  ref.g.values.get(ref.id('w1x1'))!.tensor = wt;
  b.g.values.get(b.id('w1x1'))!.tensor = wt;
  const g = nhwc()(b.g);
  const r = interpret(ref.g, feed), o = interpret(g, feed);
  assert.equal(Array.from(logical(g, o, g.outputs[0])), Array.from(logical(ref.g, r, ref.g.outputs[0])));
  disposeAll(r);
  disposeAll(o);
  wt.dispose();
});

test('the passes refuse CPU plans unless told which ops take the form (the CPU kernels ignore `layout` and have no bf16)', () => {
  assert.throws(() => nhwc()(new Builder('cpu').g), /NHWC layout pass targets CUDA plans, this one is on cpu/);
  assert.throws(() => precision()(new Builder('cpu').g), /bf16 mixed precision targets CUDA plans, this one is on cpu/);
});

test.run();
