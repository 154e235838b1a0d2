/**
 * The mixed-precision pass (ts/plan/passes/precision.ts) on hand-built graphs: which steps
 * run in which dtype, where the casts go (edges only, once per value, never chained), that
 * fp32 masters and plan outputs keep their dtype, the fallback for ops without a low kernel,
 * and — through the CPU interpreter that stores bf16 values rounded — that the rewritten
 * step computes the fp32 step's loss and update within bf16's error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP_NAMES } from '../../ts/ops/names';
import { Graph, validateGraph } from '../../ts/plan/graph';
import { DTYPE_POLICY, precision } from '../../ts/plan/passes/precision';
import { Builder, residualStep } from './_graphs';
import { disposeAll, interpret, logical, roundBf16 } from './_interp';

const ALL = new Set<string>(OP_NAMES);
const dt = (g: Graph, id: number) => g.values.get(id)!.dtype;
const name = (g: Graph, id: number) => g.values.get(id)!.name ?? `#${id}`;
const casts = (g: Graph) => g.steps.filter((s) => s.op === 'cast');
const stepsOf = (g: Graph, op: string) => g.steps.filter((s) => s.op === op);

test('policy: every op has a rule, and its operand indices exist', () => {
  for (const op of OP_NAMES) assert.ok(DTYPE_POLICY[op], `no dtype rule for ${op}`);
  for (const [op, r] of Object.entries(DTYPE_POLICY))
    if (r.rule === 'follow') for (const i of [...(r.fp32In ?? []), ...(r.fp32Out ?? []), r.of ?? 0]) assert.ok(i >= 0 && i < 6, `${op}: index ${i}`);
});

test('residual step: convs/matmuls in bf16, BatchNorm statistics, loss, reductions and Adam in fp32', () => {
  const { b, bound } = residualStep();
  const g = precision({ lowOps: ALL })(b.g);
  validateGraph(g, 'test');
  for (const s of g.steps) {
    const ins = s.inputs.map((i) => dt(g, i)), outs = s.outputs.map((i) => dt(g, i));
    const where = `${s.op} ${s.inputs.map((i) => name(g, i))} -> ${s.outputs.map((i) => name(g, i))}`;
    if (['conv2d', 'conv2d_bwd_data', 'conv2d_bwd_filter', 'linear', 'matmul'].includes(s.op))
      assert.ok([...ins, ...outs].every((d) => d === 'bfloat16'), `${where} runs in bf16: ${ins} -> ${outs}`);
    if (s.op === 'batchnorm_train') {
      assert.equal(ins, ['bfloat16', 'float32', 'float32'], where);
      assert.equal(outs, ['bfloat16', 'float32', 'float32', 'float32', 'float32'], where);
    }
    if (s.op === 'batchnorm_bwd') {
      assert.equal(ins, ['bfloat16', 'bfloat16', 'float32', 'float32', 'float32'], where);
      assert.equal(outs, ['bfloat16', 'float32', 'float32'], where);
    }
    if (['masked_xent_fwd_bwd', 'adam'].includes(s.op))
      assert.ok([...ins, ...outs].every((d) => d !== 'bfloat16'), `${where} stays fp32`);
    if (s.op === 'sum') assert.equal(outs, ['float32'], `${where}: reductions write fp32`);
    if (['relu', 'relu_bwd', 'maxpool2d', 'maxpool2d_bwd', 'global_avgpool', 'global_avgpool_bwd', 'add'].includes(s.op))
      assert.ok([...ins, ...outs].every((d) => d !== 'float32'), `${where} follows the bf16 of its convolution: ${ins} -> ${outs}`);
  }
  // the exact casts: each at an edge between an fp32 and a bf16 region, each once
  const made = casts(g).map((s) => `${name(g, s.inputs[0])}→${dt(g, s.outputs[0])}`).sort();
  assert.equal(made, [
    'conv1.weight→bfloat16', 'conv2.weight→bfloat16', 'dconv1.weight→float32', 'dconv2.weight→float32', 'dfc.weight→float32',
    'dlogits→bfloat16', 'fc.bias→bfloat16', 'fc.weight→bfloat16', 'images→bfloat16', 'logits→float32',
  ]);
  for (const t of bound) t.dispose();
});

test('masters untouched: parameters, inputs and outputs keep dtype; Adam writes the fp32 masters', () => {
  const { b, bound } = residualStep();
  const before = new Map([...b.g.values].filter(([, v]) => v.kind !== 'temp').map(([id, v]) => [id, { ...v }]));
  const g = precision({ lowOps: ALL })(b.g);
  for (const [id, v] of before) assert.equal({ ...g.values.get(id)! }, v, `${v.name} unchanged`);
  const adam = stepsOf(g, 'adam')[0];
  assert.equal(adam.outputs, b.g.steps.find((s) => s.op === 'adam')!.outputs, 'Adam still writes the bound masters and moments');
  assert.equal(g.outputs.map((id) => dt(g, id)), ['float32']);
  for (const t of bound) t.dispose();
});

test('no cast chains; a value cast twice the same way is cast once; fp32 → bf16 → fp32 returns the original', () => {
  const b = new Builder();
  const x = b.value('x', [2, 3], 'input'), w = b.value('w', [4, 3], 'param');
  const y = b.value('y', [2, 4]), s1 = b.value('s1', [4]), y2 = b.value('y2', [2, 4]), s2 = b.value('s2', [4]);
  b.step('linear', [x, w], [y]);
  b.step('sum', [y], [s1], { axes: [0], keepdim: false }); // fp32 reader of bf16 y: one cast
  b.step('linear', [y, w], [y2]); // (shapes aside) bf16 reader of y: no cast; w reused
  b.step('mean', [y], [s2], { axes: [0], keepdim: false }); // second fp32 reader of y: the same cast
  b.g.outputs = [s1, s2, y2];
  // sum and mean as fp32 consumers (the table lets them read bf16; the mechanism is what is tested)
  const g = precision({ lowOps: ALL, policy: { ...DTYPE_POLICY, sum: { rule: 'fp32' }, mean: { rule: 'fp32' } } })(b.g);
  const cs = casts(g);
  for (const c of cs) assert.not.ok(cs.some((d) => d.outputs[0] === c.inputs[0]), `cast of a cast: ${name(g, c.inputs[0])}`);
  assert.equal(cs.map((c) => `${name(g, c.inputs[0])}→${dt(g, c.outputs[0])}`), ['x→bfloat16', 'w→bfloat16', 'y→float32', 'y2→float32']);
  assert.equal(g.outputs.map((id) => dt(g, id)), ['float32', 'float32', 'float32'], 'outputs read back as recorded');
});

test('a parameter written mid-step is cast again for later readers', () => {
  const b = new Builder();
  const x = b.value('x', [2, 3], 'input'), w = b.value('w', [4, 3], 'param'), gw = b.value('gw', [4, 3]);
  const y1 = b.value('y1', [2, 4]), y2 = b.value('y2', [2, 4]);
  b.step('linear', [x, w], [y1]);
  b.step('affine', [w], [gw], { alpha: 2, beta: 0 });
  b.step('sgd', [gw], [w, b.value('buf', [4, 3], 'param')], { lr: 0.1, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false, first_step: true });
  b.step('linear', [x, w], [y2]);
  b.g.outputs = [y1, y2];
  const g = precision({ lowOps: ALL })(b.g);
  assert.equal(casts(g).filter((c) => c.inputs[0] === w).length, 2, 'w cast before and after the update');
});

test('an op without a low kernel on the backend runs in fp32 between casts', () => {
  const { b, bound } = residualStep();
  const g = precision({ lowOps: new Set([...ALL].filter((o) => o !== 'maxpool2d' && o !== 'maxpool2d_bwd')) })(b.g);
  validateGraph(g, 'test');
  assert.equal(stepsOf(g, 'maxpool2d')[0].inputs.map((i) => dt(g, i)), ['float32']);
  assert.equal(stepsOf(g, 'maxpool2d_bwd')[0].inputs.map((i) => dt(g, i)), ['float32', 'int32']);
  const names = casts(g).map((s) => `${name(g, s.inputs[0])}→${dt(g, s.outputs[0])}`);
  // into the fp32 pool and out of it; the shortcut add then promotes to fp32, as autocast
  for (const c of ['a1→float32', 'p1→bfloat16', 'z2→float32', 'da1→bfloat16']) assert.ok(names.includes(c), `${c} in ${names}`);
  assert.equal(stepsOf(g, 'add')[0].outputs.map((i) => dt(g, i)), ['float32']);
  for (const t of bound) t.dispose();
});

/** ‖a − b‖ / ‖b‖ */
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}

test('bf16 step (emulated on the CPU) tracks the fp32 step: loss within 1 %, gradients within bf16 error', () => {
  const fx = residualStep(16, 3, 16, 8, 3, 11);
  const fx2 = residualStep(16, 3, 16, 8, 3, 11);
  const g = precision({ lowOps: ALL })(fx2.b.g);
  const ref = interpret(fx.b.g, fx.feed);
  const mixed = interpret(g, fx2.feed);
  const l0 = logical(fx.b.g, ref, fx.b.g.outputs[0])[0], l1 = logical(g, mixed, g.outputs[0])[0];
  assert.ok(Math.abs(l1 - l0) <= 0.01 * Math.abs(l0), `loss fp32 ${l0} vs bf16 ${l1}`);
  assert.ok(l1 !== l0, 'the emulation rounds (a bf16 loss equal to the fp32 one to the bit would mean it did not)');
  // Adam's inputs are the gradients, fp32 in both graphs. Convolution weight gradients carry
  // the most error (measured 3–6 %): BatchNorm's backward subtracts per-channel means, and
  // that cancellation magnifies the bf16 rounding of the activations (rounding only the
  // input images to bf16 already moves them by up to 5 % on these nets); the rest ≤ 1 %.
  const g0 = stepsOf(fx.b.g, 'adam')[0].inputs, g1 = stepsOf(g, 'adam')[0].inputs;
  const errs = g0.map((id, i) => relL2(logical(g, mixed, g1[i]), logical(fx.b.g, ref, id)));
  g0.forEach((id, i) => {
    const conv = /^dconv/.test(name(fx.b.g, id));
    assert.ok(errs[i] <= (conv ? 0.1 : 0.02), `${name(fx.b.g, id)}: relative L2 error ${errs[i]}`);
  });
  assert.ok(Math.min(...errs) > 1e-5, `every gradient differs by the rounding (${errs.map((e) => e.toExponential(1))})`);
  disposeAll(ref);
  disposeAll(mixed);
  for (const t of [...fx.bound, ...fx2.bound]) t.dispose();
});

test('the emulation rounds like bf16 hardware: nearest even, 8 bits of mantissa', () => {
  const a = Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -7 + 2 ** -9, -3.14159, 65504]);
  roundBf16(a);
  assert.equal(Array.from(a), [1, 1, 1 + 2 ** -6, 1 + 2 ** -7, -3.140625, 65536]);
});

test.run();

