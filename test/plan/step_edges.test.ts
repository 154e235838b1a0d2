/**
 * compileStep as a caller uses it, on tiny steps (no model): what a refused recording leaves of
 * the caller's tensors, and what a result the caller disposes does to the next run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { backward, zeroGrad } from '../../ts/autograd/tape';
import * as nn from '../../ts/nn';
import { relu } from '../../ts/ops/activations';
import { add, affine, mul } from '../../ts/ops/elementwise';
import { sum } from '../../ts/ops/reduce';
import { Adam } from '../../ts/optim';
import { compileStep } from '../../ts/plan/step';
import { keep, liveTensorCount, setHostReadGuard, tensor, tidy } from '../../ts/tensor';
import { DEVICE } from '../helpers';

const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: Error & { code?: string }) => e.code === 'EPLAN' && re.test(e.message), String(re));

test('a step that returns a tensor it did not compute is refused without disposing that tensor (an input, a parameter, an outside one)', () => {
  const x = keep(tensor([1, -2, 3], [3], { device: DEVICE }));
  const outside = keep(tensor([9], [1], { device: DEVICE }));
  const lin = new nn.Linear(3, 2, { device: DEVICE });
  const cases: [string, (ins: ReturnType<typeof tensor>[]) => ReturnType<typeof tensor>[]][] = [
    ['its input', ([a]) => [relu(a), a]],
    ['a parameter', () => [lin.param('weight')]],
    ['a tensor made before the step', ([a]) => [relu(a), outside]],
  ];
  for (const [label, fn] of cases) {
    const step = compileStep(fn);
    refused(() => step.run([x]), /is not computed by an op of the step/);
    step.dispose();
    assert.not.ok(x.disposed, `${label}: the input survives`);
    assert.not.ok(outside.disposed, `${label}: the outside tensor survives`);
    assert.not.ok(lin.param('weight').disposed, `${label}: the model's weight survives`);
  }
  assert.equal([...x.toArray()], [1, -2, 3]);
  assert.equal([...lin.forward(tensor([1, 1, 1], [1, 3], { device: DEVICE })).shape], [1, 2], 'the model still runs');
  x.dispose();
  outside.dispose();
  lin.dispose();
});

test('a step whose recording is refused frees the tensors it made, and the recorder\'s snapshots', () => {
  const x = keep(tensor([1, -2, 3], [3], { device: DEVICE }));
  const before = liveTensorCount();
  const step = compileStep(([a]) => [relu(a), affine(a, 2), x]);
  refused(() => step.run([x]), /is not computed by an op of the step/);
  step.dispose();
  assert.is(liveTensorCount(), before, 'the relu and affine results are freed');
  // a tensor made in the step without an op (a constant, backward()'s seed): the recorder's
  // snapshot of it was left alive by every refused recording (SGD, a gradient zeroed first)
  const withConst = compileStep(([a]) => [add(a, tensor([1, 2, 3], [3], { device: DEVICE })), x]);
  for (let i = 0; i < 3; i++) refused(() => withConst.run([x]), /is not computed by an op of the step/);
  withConst.dispose();
  assert.is(liveTensorCount(), before, 'the constant\'s snapshot is freed');
  const failing = compileStep(([a]) => [add(a, tensor([1, 2, 3], [3], { device: DEVICE }))], { onRecord: () => { throw new Error('dump failed'); } });
  assert.throws(() => failing.run([x]), /dump failed/);
  failing.dispose();
  assert.is(liveTensorCount(), before, 'an onRecord that throws: the constant\'s snapshot is freed');
  x.dispose();
});

test('a result the caller disposes does not break the step: results are the plan\'s buffers, freed with it', () => {
  const x = keep(tensor([1, -2, 3], [3], { device: DEVICE }));
  const before = liveTensorCount();
  const step = compileStep(([a]) => [affine(a, 2)]);
  for (let i = 0; i < 3; i++) {
    const [y] = step.run([x]);
    assert.equal([...y.toArray()], [2, -4, 6], `run ${i}`);
    // a caller's habit with any result: it made every later run return a disposed tensor (EDISPOSED)
    y.dispose();
  }
  const [z] = step.run([{ data: new Float32Array([5, 6, 7]), shape: [3] }]);
  assert.equal([...z.toArray()], [10, 12, 14], 'host data');
  assert.is(step.recordings, 1, 'one recording, then replays');
  step.dispose();
  assert.is(liveTensorCount(), before, 'the plan\'s views are freed with it');
  assert.ok(z.disposed, 'a result of a disposed step is disposed');
  x.dispose();
});

test('a step that reads a tensor\'s values on the host while recorded is refused: the plan would replay the values of that call', () => {
  const x = keep(tensor([1, 2, 3], [3], { device: DEVICE }));
  // scale by the sum: the plan replayed the recorded sum (6) for every later input
  const bySum = compileStep(([a]) => [affine(a, sum(a).item())]);
  assert.throws(() => bySum.run([x]), (e: Error & { code?: string }) => e.code === 'EPLAN' && /reads the values of a tensor on the host \(toArray, item, to\) while it is recorded/.test(e.message));
  const moved = compileStep(([a]) => [relu(a.to(a.device))]);
  assert.throws(() => moved.run([x]), (e: Error & { code?: string }) => e.code === 'EPLAN' && /toArray/.test(e.message), 'Tensor.to() goes through the host');
  // outside a tidy, a to() whose host read is refused leaves no tensor behind (it allocated before reading)
  const live = liveTensorCount(), prev = setHostReadGuard(() => { throw new MdmtError('EPLAN', 'test', 'no host reads'); });
  try {
    assert.throws(() => x.to(x.device), /no host reads/);
  } finally {
    setHostReadGuard(prev);
  }
  assert.is(liveTensorCount(), live, 'the refused to() freed its new tensor');
  bySum.dispose();
  moved.dispose();
  // outside a recording reads are fine, and a refused recording leaves the guard off
  assert.is(sum(x).item(), 6);
  // a step made of ops records and replays (it still snapshots tensors made without an op)
  const c = tensor([10, 20, 30], [3], { device: DEVICE });
  const withConst = compileStep(([a]) => [add(a, c)]);
  for (const [d, want] of [[[1, 2, 3], [11, 22, 33]], [[0, 0, 1], [10, 20, 31]]]) {
    const [y] = withConst.run([{ data: new Float32Array(d), shape: [3] }]);
    assert.equal([...y.toArray()], want);
  }
  assert.is(withConst.recordings, 1);
  withConst.dispose();
  c.dispose();
  x.dispose();
});

test('cudaGraph and bf16 on a CPU step are refused before the step runs (each call ran a training update, then threw)', () => {
  if (DEVICE.startsWith('cuda')) return;
  const x = keep(tensor([1, -2, 3], [3], { device: DEVICE }));
  let calls = 0;
  for (const [o, re] of [[{ cudaGraph: true }, /cudaGraph replays CUDA plans, the step's inputs are on cpu/], [{ precision: 'bf16' }, /precision 'bf16' targets CUDA plans, the step's inputs are on cpu/]] as const) {
    const step = compileStep(([a]) => {
      calls++;
      return [relu(a)];
    }, o);
    assert.throws(() => step.run([x]), re);
    step.dispose();
  }
  assert.is(calls, 0, 'the step never ran');
  x.dispose();
});

test('an input that requires grad is another signature than one that does not (the plan gave one gradient to both, or none)', () => {
  const w = keep(tensor([1, 2], [2], { device: DEVICE }));
  w.requiresGrad = true;
  const step = compileStep(([a]) => {
    const l = sum(mul(a, w));
    backward(l);
    const g = a.grad;
    a.grad = null;
    zeroGrad([w]);
    return g ? [l, g] : [l];
  });
  const x = keep(tensor([3, 4], [2], { device: DEVICE })), y = keep(tensor([5, 6], [2], { device: DEVICE }));
  x.requiresGrad = true;
  assert.equal(tidy(() => step.run([x]).map((t) => [...t.toArray()])), [[11], [1, 2]]);
  assert.equal(tidy(() => step.run([y]).map((t) => [...t.toArray()])), [[17]], 'no gradient for an input without requiresGrad');
  assert.equal(tidy(() => step.run([x]).map((t) => [...t.toArray()])), [[11], [1, 2]]);
  assert.is(step.recordings, 2);
  step.dispose();
  // a gradient of an input the step leaves is named as the input's
  const leaves = compileStep(([a]) => {
    const l = sum(mul(a, w));
    backward(l);
    zeroGrad([w]);
    return [l];
  });
  refused(() => leaves.run([x]), /the gradient of input 0 outlives the recorded step/);
  leaves.dispose();
  x.grad?.dispose();
  for (const t of [w, x, y]) t.dispose();
});

test('an initialiser writing into the model inside a recorded step is refused: the plan replayed without it (the weights it set came back once only)', () => {
  const lin = new nn.Linear(2, 1, { device: DEVICE });
  const x = keep(tensor([1, 1], [1, 2], { device: DEVICE }));
  const step = compileStep(([a]) => {
    nn.init.constant(lin.param('weight'), 0);
    return [lin.forward(a)];
  });
  nn.init.constant(lin.param('weight'), 5);
  refused(() => step.run([x]), /an nn\.init initialiser writes host values into a tensor made before the step, while it is recorded/);
  assert.equal([...lin.param('weight').toArray()], [5, 5], 'refused before the upload');
  step.dispose();
  // a tensor the step makes itself may be initialised (it is the step's constant)
  const made = compileStep(([a]) => [mul(a, nn.init.constant(tensor([0, 0], [1, 2], { device: DEVICE }), 3))]);
  assert.equal(tidy(() => [...made.run([x])[0].toArray()]), [3, 3]);
  made.dispose();
  lin.dispose();
  x.dispose();
});

test('gradients zeroed at the start of a step (PyTorch\'s habit) are named as the problem, with the fix', () => {
  const lin = new nn.Linear(3, 2, { device: DEVICE });
  const opt = new Adam(lin.parameters());
  const x = keep(tensor([1, -2, 3], [1, 3], { device: DEVICE }));
  const step = compileStep(([a]) => {
    opt.zeroGrad();
    const l = sum(lin.forward(a));
    backward(l);
    opt.step();
    return [l];
  });
  // it said "a tensor made by 'matmul' during the recorded step outlives it"
  refused(() => step.run([x]), /the gradient of a parameter of shape \[2, 3\] outlives the recorded step: zero the gradients at the end of the step \(opt\.step\(\); opt\.zeroGrad\(\)\)/);
  step.dispose();
  opt.zeroGrad();
  opt.dispose();
  lin.dispose();
  x.dispose();
});

test.run();
