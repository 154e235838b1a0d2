import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { add } from '../../ts/ops/elementwise';
import { relu } from '../../ts/ops/activations';
import { reshape } from '../../ts/ops/reshape';
import { full, keep, liveTensorCount, memory, tensor, tidy, zeros } from '../../ts/tensor';
import { DEVICE } from '../helpers';

test('tensor round trip keeps data, shape and dtype', () => {
  const f = tensor([1.5, -2, 3, 4], [2, 2], { device: DEVICE });
  assert.equal([...f.toArray()], [1.5, -2, 3, 4]);
  assert.equal(f.shape, [2, 2]);
  const i = tensor([1, -2, 3], [3], { dtype: 'int32', device: DEVICE });
  assert.ok(i.toArray() instanceof Int32Array);
  const u = full([2, 3], 7, { dtype: 'uint8', device: DEVICE });
  assert.equal([...u.toArray()], [7, 7, 7, 7, 7, 7]);
  for (const t of [f, i, u]) t.dispose();
});

test('tidy disposes temporaries and keeps the result; nested scopes hand results up', () => {
  const before = liveTensorCount();
  const x = tensor([1, -2, 3], [3], { device: DEVICE });
  const y = tidy(() => {
    const a = add(x, x);
    const inner = tidy(() => relu(add(a, x)));
    return inner;
  });
  assert.equal([...y.toArray()], [3, 0, 9]);
  assert.is(liveTensorCount(), before + 2);
  x.dispose();
  y.dispose();
  assert.is(liveTensorCount(), before);
});

test('tidy works across await and concurrent async scopes stay separate', async () => {
  const before = liveTensorCount();
  const x = tensor([1, 2], [2], { device: DEVICE });
  const work = (k: number) =>
    tidy(async () => {
      const a = add(x, x);
      await new Promise((r) => setTimeout(r, 5 * k));
      const b = add(a, x);
      await new Promise((r) => setImmediate(r));
      return { out: add(b, b), note: k };
    });
  const [r1, r2] = await Promise.all([work(2), work(1)]);
  assert.equal([...r1.out.toArray()], [6, 12]);
  assert.equal([...r2.out.toArray()], [6, 12]);
  assert.is(liveTensorCount(), before + 3);
  r1.out.dispose();
  r2.out.dispose();
  x.dispose();
  assert.is(liveTensorCount(), before);
});

test('tidy cleans up when fn throws (sync and async)', async () => {
  const before = liveTensorCount();
  assert.throws(() => tidy(() => { zeros([4], { device: DEVICE }); throw new Error('boom'); }), /boom/);
  try {
    await tidy(async () => { zeros([4], { device: DEVICE }); await Promise.resolve(); throw new Error('later'); });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /later/);
  }
  assert.is(liveTensorCount(), before);
});

test('keep() survives tidy; dispose is idempotent; use after dispose names the op', () => {
  const kept = tidy(() => keep(zeros([3], { device: DEVICE })));
  assert.not.ok(kept.disposed);
  kept.dispose();
  kept.dispose();
  try {
    relu(kept);
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, MdmtError);
    assert.is((e as MdmtError).code, 'EDISPOSED');
    assert.match((e as Error).message, /^relu: 'x' has been disposed/);
  }
});

test('reshape is a view sharing data; memory() reports live tensors and bytes', () => {
  tidy(() => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { device: DEVICE });
    const v = reshape(x, [3, -1]);
    assert.equal(v.shape, [3, 2]);
    assert.equal([...v.toArray()], [1, 2, 3, 4, 5, 6]);
    const m = memory(DEVICE);
    assert.ok(m.liveTensors >= 2);
    assert.ok(m.devices[DEVICE].liveBytes >= 24);
    assert.throws(() => reshape(x, [4, 2]), /cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
  });
});

test('creation validates shapes and data length', () => {
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /tensor: data has 3 elements but shape \[2, 2\] needs 4/);
  assert.throws(() => zeros([2, -1]), /shape\[1\] must be a non-negative integer/);
  assert.throws(() => zeros([2], { device: 'tpu' }), /unknown device 'tpu'/);
});

test.run();
