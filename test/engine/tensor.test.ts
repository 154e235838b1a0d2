import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { add } from '../../ts/ops/elementwise';
import { fill_ } from '../../ts/ops/memory';
import { relu } from '../../ts/ops/activations';
import { reshape } from '../../ts/ops/reshape';
import { full, keep, liveTensorCount, memory, tensor, tidy, zeros } from '../../ts/tensor';
import { Generator, manualSeed } from '../../ts/random';
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
  assert.throws(() => zeros(['3' as never]), /shape\[0\] must be a non-negative integer, got "3"/);
});

test('host data an integer dtype cannot hold is refused, not converted (NaN → 0, 1.5 → 1, 300 → 44)', () => {
  const cases: [number[], string, RegExp][] = [
    [[1, NaN], 'int32', /tensor: data\[1\] is NaN, which int32 cannot hold \(integers in \[-2147483648, 2147483647\]\)/],
    [[Infinity, 0], 'int32', /data\[0\] is Infinity, which int32 cannot hold/],
    [[1.5, 2], 'int32', /data\[0\] is 1\.5, which int32 cannot hold/],
    [[2 ** 31, 0], 'int32', /data\[0\] is 2147483648, which int32 cannot hold/],
    [[300, 1], 'uint8', /data\[0\] is 300, which uint8 cannot hold \(integers in \[0, 255\]\)/],
    [[0, -1], 'uint8', /data\[1\] is -1, which uint8 cannot hold/],
  ];
  for (const [data, dtype, re] of cases) assert.throws(() => tensor(data, [2], { dtype: dtype as never, device: DEVICE }), re);
  assert.throws(() => tensor(new Float32Array([0.5, 1]), [2], { dtype: 'int32', device: DEVICE }), /data\[0\] is 0\.5, which int32 cannot hold/);
  assert.throws(() => tensor(['a', 'b'] as never, [2], { device: DEVICE }), /tensor: data\[0\] is "a", not a number/);
  // fills too: full() and fill_ stored 300 as 44 in uint8 and Infinity as -2^31 (a fraction
  // truncates, as the fill op's contract and PyTorch's full() say)
  assert.throws(() => full([2], 300, { dtype: 'uint8', device: DEVICE }), /full: value 300 is not a number uint8 can hold \(\[0, 255\]\)/);
  assert.throws(() => full([2], Infinity, { dtype: 'int32', device: DEVICE }), /full: value Infinity is not a number int32 can hold/);
  assert.throws(() => full([2], 3e9, { dtype: 'int32', device: DEVICE }), /full: value 3000000000/);
  tidy(() => {
    const u = zeros([2], { dtype: 'uint8', device: DEVICE });
    assert.throws(() => fill_(u, -1), /fill: value -1 is not a number uint8 can hold/);
    assert.equal([...fill_(u, 255).toArray()], [255, 255]);
    assert.equal([...full([2], -1.5, { dtype: 'int32', device: DEVICE }).toArray()], [-1, -1]);
    assert.equal([...full([2], 2.5, { device: DEVICE }).toArray()], [2.5, 2.5], 'float32 fills take fractions');
  });
  // what fits is kept exactly, and float32 data may hold NaN and infinities
  tidy(() => {
    assert.equal([...tensor([-(2 ** 31), 2 ** 31 - 1], [2], { dtype: 'int32', device: DEVICE }).toArray()], [-(2 ** 31), 2 ** 31 - 1]);
    assert.equal([...tensor(new Float32Array([0, 255]), [2], { dtype: 'uint8', device: DEVICE }).toArray()], [0, 255]);
    assert.equal([...tensor([NaN, -Infinity], [2], { device: DEVICE }).toArray()], [NaN, -Infinity]);
  });
});

test('seeds: NaN, negatives and fractions are refused, not folded onto another seed', () => {
  for (const bad of [NaN, -1, 1.5, 2 ** 53, '7']) assert.throws(() => manualSeed(bad as number), /seed: a seed must be a non-negative safe integer, got/, String(bad));
  assert.throws(() => new Generator(-1), /got -1/);
  const a = new Generator(2 ** 40), b = new Generator(2 ** 40), c = new Generator(0);
  const draw = (g: Generator) => [g.uniform(), g.uniform()];
  assert.equal(draw(a), draw(b));
  assert.not.equal(draw(new Generator(2 ** 40)), draw(c), 'the high bits of a large seed count');
  manualSeed(0);
});

test.run();
