/**
 * compileStep as a caller uses it, on tiny steps (no model): what a refused recording leaves of
 * the caller's tensors, and what a result the caller disposes does to the next run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as nn from '../../ts/nn';
import { relu } from '../../ts/ops/activations';
import { affine } from '../../ts/ops/elementwise';
import { compileStep } from '../../ts/plan/step';
import { keep, liveTensorCount, tensor } from '../../ts/tensor';
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

test('a step whose recording is refused frees the tensors it made', () => {
  const x = keep(tensor([1, -2, 3], [3], { device: DEVICE }));
  const before = liveTensorCount();
  const step = compileStep(([a]) => [relu(a), affine(a, 2), x]);
  refused(() => step.run([x]), /is not computed by an op of the step/);
  step.dispose();
  assert.is(liveTensorCount(), before, 'the relu and affine results are freed');
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

test.run();
