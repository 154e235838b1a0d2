import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward, isGradEnabled, noGrad, zeroGrad } from '../../ts/autograd/tape';
import { add, mul } from '../../ts/ops/elementwise';
import { sum } from '../../ts/ops/reduce';
import { liveTensorCount, tensor, tidy } from '../../ts/tensor';
import { DEVICE, expectError } from '../helpers';

const leaf = (v: number[], shape = [v.length]) => {
  const t = tensor(v, shape, { device: DEVICE });
  t.requiresGrad = true;
  return t;
};

test('a tensor used twice gets both contributions (d/dx Σ x·x = 2x)', () => {
  const x = leaf([1, -2, 3]);
  tidy(() => backward(sum(mul(x, x))));
  assert.equal([...x.grad!.toArray()], [2, -4, 6]);
  x.grad!.dispose();
  x.dispose();
});

test('gradients accumulate across backward calls until zeroGrad', () => {
  const x = leaf([1, 2]);
  const w = leaf([3, 4]);
  for (let i = 0; i < 3; i++) tidy(() => backward(sum(mul(x, w))));
  assert.equal([...x.grad!.toArray()], [9, 12]);
  assert.equal([...w.grad!.toArray()], [3, 6]);
  zeroGrad([x, w]);
  assert.is(x.grad, null);
  x.dispose();
  w.dispose();
});

test('diamond graph: y = (x+x)·x, dy/dx = 4x', () => {
  const x = leaf([0.5, -1.5]);
  tidy(() => {
    const a = add(x, x);
    backward(sum(mul(a, x)));
  });
  assert.equal([...x.grad!.toArray()], [2, -6]);
  zeroGrad([x]);
  x.dispose();
});

test('noGrad records nothing; backward on it is an error', () => {
  const x = leaf([1, 2]);
  tidy(() => {
    const y = noGrad(() => sum(mul(x, x)));
    assert.is(y.node, null);
    assert.throws(() => backward(y), /backward: root does not depend on any tensor that requires grad/);
  });
  x.dispose();
});

test('backward frees every intermediate gradient: live tensors return to baseline', () => {
  const x = leaf([1, 2, 3, 4], [2, 2]);
  const w = leaf([1, 1, 1, 1], [2, 2]);
  const base = liveTensorCount();
  for (let i = 0; i < 3; i++) {
    tidy(() => backward(sum(add(mul(x, w), mul(mul(x, x), w)))));
    zeroGrad([x, w]);
    assert.is(liveTensorCount(), base);
  }
  x.dispose();
  w.dispose();
});

test('a disposed intermediate stays in the graph: its branch still gets its gradient', () => {
  // d/dx (Σ x·x + Σ x) = 2x + 1; sum's vjp needs only h's shape, so freeing h changes nothing
  const x = leaf([1, 2, 3]);
  tidy(() => {
    const h = mul(x, x);
    const y = add(sum(h), sum(x));
    h.dispose();
    backward(y);
  });
  assert.equal([...x.grad!.toArray()], [3, 5, 7]);
  zeroGrad([x]);
  x.dispose();
});

test('a gradient that needs a freed tensor is EDISPOSED naming the op', () => {
  const x = leaf([1, -2, 3]);
  // tidy() frees mul(x, x) when it returns the sum; the outer mul's vjp needs it
  const y = tidy(() => sum(mul(mul(x, x), x)));
  assert.throws(() => backward(y), (e: Error & { code?: string }) =>
    e.code === 'EDISPOSED' && /^backward: the gradient of 'mul' needs a tensor of shape \[3\] that was disposed before backward\(\)/.test(e.message));
  y.dispose();
  assert.is(x.grad, null);
  x.dispose();
});

test('non-scalar root needs an explicit gradient', () => {
  const x = leaf([1, 2]);
  tidy(() => {
    assert.throws(() => backward(mul(x, x)), /pass opts.grad for a non-scalar root/);
    backward(mul(x, x), { grad: tensor([1, 10], [2], { device: DEVICE }) });
  });
  assert.equal([...x.grad!.toArray()], [2, 40]);
  zeroGrad([x]);
  x.dispose();
});

test('a second backward() on a freed graph says so; bad arguments are MdmtErrors', () => {
  const x = leaf([1, 2]);
  tidy(() => {
    const l = sum(mul(x, x));
    expectError(() => backward(l, { retaingraph: true } as never), 'EINVAL', 'backward', /unknown option 'retaingraph'.*did you mean retainGraph\?/, 'typo');
    backward(l);
    expectError(() => backward(l), 'EINVAL', 'backward', /the graph of root was already freed by an earlier backward\(\); pass \{ retainGraph: true \}/, 'twice');
    const free = tensor([1], [1], { device: DEVICE });
    expectError(() => backward(free), 'EINVAL', 'backward', /root does not depend on any tensor that requires grad/, 'no graph');
  });
  expectError(() => backward(5 as never), 'EINVAL', 'backward', /root must be a Tensor, got 5/, 'backward(5)');
  expectError(() => zeroGrad(5 as never), 'EINVAL', 'zeroGrad', /needs an array \(or iterable\) of Tensors, got 5/, 'zeroGrad(5)');
  expectError(() => zeroGrad([x, 'w'] as never), 'EINVAL', 'zeroGrad', /needs Tensors, got "w"/, 'zeroGrad([x, "w"])');
  expectError(() => noGrad(null as never), 'EINVAL', 'noGrad', /needs a function to run, got null/, 'noGrad(null)');
  zeroGrad([x]);
  x.dispose();
});

test('backward() on a leaf gives it its own gradient (it was silently left null); opts.grad is checked', () => {
  const x = leaf([3]);
  backward(x);
  backward(x);
  assert.equal([...x.grad!.toArray()], [2], 'two backward() calls on a leaf accumulate 1 + 1');
  const v = leaf([1, 2]);
  const g = tensor([5, 6], [2], { device: DEVICE });
  backward(v, { grad: g });
  assert.equal([...v.grad!.toArray()], [5, 6]);
  assert.is.not(v.grad, g, 'the caller keeps its own opts.grad');
  expectError(() => backward(v, { grad: tensor([1], [1], { device: DEVICE }) }), 'ESHAPE', 'backward', /opts.grad has shape \[1\], root \[2\]/, 'wrong shape');
  expectError(() => backward(v, { grad: [1, 1] as never }), 'EINVAL', 'backward', /opts.grad must be a float32 Tensor, got an array/, 'an array');
  g.dispose();
  expectError(() => backward(v, { grad: g }), 'EDISPOSED', 'backward', /opts.grad has been disposed/, 'disposed');
  zeroGrad([x, v]);
  x.dispose();
  v.dispose();
});

test('opts.grad of a recorded root must have the root\'s shape: one that broadcasts gave a wrong gradient', () => {
  const w = leaf([1, 2, 3], [1, 3]);
  tidy(() => {
    // a [3, 1] seed for a [1, 3] root broadcast through mul's vjp and summed back: 3·2w, silently
    expectError(() => backward(mul(w, w), { grad: tensor([1, 1, 1], [3, 1], { device: DEVICE }) }), 'ESHAPE', 'backward',
      /opts.grad has shape \[3, 1\], root \[1, 3\]/, 'broadcastable seed');
    expectError(() => backward(sum(w), { grad: tensor([1], [1], { device: DEVICE }) }), 'ESHAPE', 'backward', /opts.grad has shape \[1\], root \[\]/, 'scalar root, [1] seed');
    expectError(() => backward(mul(w, w), { grad: tensor([1, 1], [2], { device: DEVICE }) }), 'ESHAPE', 'backward', /opts.grad has shape \[2\], root \[1, 3\]/, 'was named as mul\'s');
  });
  assert.is(w.grad, null, 'nothing accumulated');
  tidy(() => backward(mul(w, w), { grad: tensor([1, 1, 1], [1, 3], { device: DEVICE }) }));
  assert.equal([...w.grad!.toArray()], [2, 4, 6]);
  zeroGrad([w]);
  w.dispose();
});

test('an async noGrad covers its own async context only: work that runs meanwhile still records', async () => {
  const x = leaf([1, 2]);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const inside = noGrad(async () => {
    await gate;
    return isGradEnabled();
  });
  // a training step of the same process while an evaluation awaits under noGrad: it recorded
  // nothing (the switch was one global counter), and its backward() found no graph
  assert.ok(isGradEnabled(), 'outside the pending noGrad');
  tidy(() => backward(sum(mul(x, x))));
  assert.equal([...x.grad!.toArray()], [2, 4]);
  release();
  assert.is(await inside, false, 'inside, after an await, nothing is recorded');
  assert.ok(isGradEnabled());
  zeroGrad([x]);
  x.dispose();
});

test.run();
