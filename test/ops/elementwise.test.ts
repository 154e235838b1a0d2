import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { add, affine, expand, mul, scale, sub } from '../../ts/ops/elementwise';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, expectError, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { binaryRef, expandRef } from '../ref/elementwise';

// forward tolerance: one float32 rounding of the result
const TOL = { atol: 1e-6, rtol: 1e-6 };
const on = deviceAvailable('elementwise');

const SHAPES: [number[], number[]][] = [
  [[2, 3, 4, 5], [2, 3, 4, 5]], // same shape
  [[2, 3, 5, 7], [2, 3, 1, 1]], // SE block: N×C×H×W · N×C×1×1
  [[1, 4, 3, 3], [4, 1, 1]], // bias-like, fewer dims
  [[3, 1, 5], [1, 4, 1]], // both broadcast
  [[5], []], // scalar
  [[1, 1, 2, 3], [2, 1, 1, 3]], // batch 1, asymmetric
  [[7, 9], [9]],
];

const OPS: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
  ['add', add, (x, y) => x + y],
  ['sub', sub, (x, y) => x - y],
  ['mul', mul, (x, y) => x * y],
];

for (const [name, fn, f] of OPS) {
  test(`${name}: forward = float64 reference over broadcast shapes`, () => {
    if (!on) return;
    const rng = new Rng(11);
    for (const [as, bs] of SHAPES) {
      const a = f32(rng.array(numel(as))), b = f32(rng.array(numel(bs)));
      const y = tidy(() => fn(t32(a, as), t32(b, bs)).toArray());
      assertClose(y, binaryRef(f, a, as, b, bs), TOL, `${name} ${JSON.stringify([as, bs])}`);
    }
  });
  test(`${name}: vjp = finite differences (both operands, broadcast reduced)`, () => {
    if (!on) return;
    const rng = new Rng(12);
    for (const [as, bs] of SHAPES) {
      gradcheck({
        label: `${name} ${JSON.stringify([as, bs])}`, rng,
        inputs: [{ data: rng.array(numel(as)), shape: as }, { data: rng.array(numel(bs)), shape: bs }],
        engine: ([a, b]) => fn(a, b),
        ref: ([a, b]) => binaryRef(f, a, as, b, bs),
      });
    }
  });
}

test('affine and expand: forward and vjp', () => {
  if (!on) return;
  const rng = new Rng(13);
  const x = f32(rng.array(24));
  const y = tidy(() => affine(t32(x, [2, 3, 4]), -2.5, 0.75).toArray());
  assertClose(y, x.map((v) => -2.5 * v + 0.75), TOL, 'affine');
  gradcheck({ label: 'affine', rng, inputs: [{ data: x, shape: [2, 3, 4] }], engine: ([t]) => affine(t, 3, 1), ref: ([t]) => t.map((v) => 3 * v + 1) });
  for (const [xs, os] of [[[3, 1], [2, 3, 4]], [[1], [5]], [[2, 1, 3], [2, 4, 3]]] as number[][][]) {
    const d = f32(rng.array(numel(xs)));
    const e = tidy(() => expand(t32(d, xs), os).toArray());
    assertClose(e, expandRef(d, xs, os), TOL, `expand ${xs}->${os}`);
    gradcheck({ label: `expand ${xs}->${os}`, rng, inputs: [{ data: d, shape: xs }], engine: ([t]) => expand(t, os), ref: ([t]) => expandRef(t, xs, os) });
  }
});

test('binary ops reject shapes that do not broadcast, naming both', () => {
  if (!on) return;
  tidy(() => {
    try {
      add(t32([1, 2, 3], [3]), t32([1, 2], [2]));
      assert.unreachable('no error');
    } catch (e) {
      assert.is((e as { code: string }).code, 'ESHAPE');
      assert.match((e as Error).message, /add: shapes \[3\] and \[2\] do not broadcast/);
    }
  });
});

test('expand gives the shape asked for or refuses it (NumPy broadcast_to): never a larger one', () => {
  if (!on) return;
  tidy(() => {
    const x = t32([1, 2, 3], [1, 3]);
    // [1, 3] broadcast with [3, 1] is [3, 3]: expand returned that for a target of [3, 1]
    expectError(() => expand(x, [3, 1]), 'ESHAPE', 'expand', /cannot expand \[1, 3\] to \[3, 1\]/, 'a target dim smaller than x\'s');
    expectError(() => expand(t32([1, 2, 3, 4, 5, 6], [2, 3]), [3]), 'ESHAPE', 'expand', /cannot expand \[2, 3\] to \[3\]: the target has fewer dims/, 'fewer dims');
    expectError(() => expand(x, []), 'ESHAPE', 'expand', /cannot expand \[1, 3\] to \[\]/, 'to a scalar');
    // a string or null was a raw TypeError, a bad entry named 'empty'
    expectError(() => expand(x, '23' as never), 'EINVAL', 'expand', /'shape' must be an array of non-negative integers, got "23"/, 'a string');
    expectError(() => expand(x, null as never), 'EINVAL', 'expand', /'shape' must be an array of non-negative integers, got null/, 'null');
    expectError(() => expand(x, [-1, 3]), 'EINVAL', 'expand', /'shape'\[0\] must be a non-negative integer, got -1/, 'negative');
    assert.equal(expand(x, [2, 1, 3]).shape, [2, 1, 3]);
    assert.equal(expand(x, [0, 3]).shape, [0, 3]);
  });
});

test('affine and scale refuse a non-finite or non-number factor under their own name, without contradicting themselves', () => {
  if (!on) return;
  tidy(() => {
    const x = t32([1, 2], [2]);
    // scale's NaN was reported as affine's; an infinite one was 'a number in [-Infinity, Infinity], got Infinity'
    expectError(() => scale(x, NaN), 'EINVAL', 'scale', /'alpha' must be a finite number, got NaN$/, 'scale NaN');
    expectError(() => affine(x, 1, Infinity), 'EINVAL', 'affine', /'beta' must be a finite number, got Infinity$/, 'affine beta Infinity');
    expectError(() => affine(x, '2' as never), 'EINVAL', 'affine', /'alpha' must be a finite number, got "2"$/, 'a string');
    assert.equal([...scale(x, -3).toArray()], [-3, -6]);
  });
});

test.run();
