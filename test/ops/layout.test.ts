import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { channelShuffle, concat, pad2d, split, transpose } from '../../ts/ops/layout';
import { maxpool2d } from '../../ts/ops/pool';
import { tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, expectError, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { channelShuffleRef, concatRef, pad2dRef, splitRef, transposeRef } from '../ref/layout';

// Layout ops move values without arithmetic: results must be bit-exact.
const EXACT = { atol: 0, rtol: 0 };
const on = deviceAvailable('layout');

// [part shapes, axis]: channels (DenseNet/GoogLeNet), batch, spatial, last, negative axis,
// a zero-size part, a single part, 1-D and 5-D
const CONCATS: [number[][], number][] = [
  [[[2, 3, 4, 5], [2, 1, 4, 5], [2, 6, 4, 5]], 1],
  [[[1, 3, 2, 2], [4, 3, 2, 2]], 0],
  [[[2, 2, 3, 4], [2, 2, 5, 4]], 2],
  [[[3, 2, 2, 1], [3, 2, 2, 7], [3, 2, 2, 2], [3, 2, 2, 3]], -1],
  [[[2, 4, 3, 3], [2, 0, 3, 3], [2, 2, 3, 3]], 1],
  [[[1, 5, 2, 3]], 1],
  [[[7], [2]], 0],
  [[[2, 3, 1, 2, 2], [2, 3, 4, 2, 2]], 2],
];
const norm = (a: number, n: number) => (a < 0 ? a + n : a);

test('concat: forward = float64 reference (any axis, zero-size parts)', () => {
  if (!on) return;
  const rng = new Rng(201);
  for (const [shapes, axis] of CONCATS) {
    const xs = shapes.map((s) => f32(rng.array(numel(s))));
    const ref = concatRef(xs, shapes, norm(axis, shapes[0].length));
    tidy(() => {
      const y = concat(xs.map((x, i) => t32(x, shapes[i])), axis);
      assert.equal(y.shape, ref.shape);
      assertClose(y.toArray(), ref.y, EXACT, `concat ${JSON.stringify(shapes)} axis ${axis}`);
    });
  }
});

test('concat: vjp = finite differences (each part gets its slice)', () => {
  if (!on) return;
  const rng = new Rng(202);
  for (const [shapes, axis] of CONCATS.slice(0, 6)) {
    const ax = norm(axis, shapes[0].length);
    gradcheck({
      label: `concat ${JSON.stringify(shapes)}`, rng,
      inputs: shapes.map((s) => ({ data: rng.array(numel(s)), shape: s })),
      engine: (xs) => concat(xs, axis),
      ref: (xs) => concatRef(xs, shapes, ax).y,
    });
  }
});

test('concat: int32 and uint8 tensors concatenate too', () => {
  if (!on) return;
  tidy(() => {
    const a = tensor(Int32Array.from([1, 2, 3, 4]), [2, 2]);
    const b = tensor(Int32Array.from([5, 6]), [2, 1]);
    const y = concat([a, b], 1);
    assert.is(y.dtype, 'int32');
    assert.equal(Array.from(y.toArray()), [1, 2, 5, 3, 4, 6]);
    const u = concat([tensor(Uint8Array.from([9]), [1]), tensor(Uint8Array.from([7, 8]), [2])], 0);
    assert.equal(Array.from(u.toArray()), [9, 7, 8]);
  });
});

const SPLITS: [number[], number[], number][] = [
  [[2, 8, 3, 3], [3, 5], 1],
  [[4, 2, 2, 2], [1, 1, 2], 0],
  [[2, 3, 6, 2], [2, 0, 4], 2],
  [[2, 2, 3, 9], [4, 5], -1],
  [[1, 6, 2, 2], [6], 1],
  [[3, 2, 4, 1, 5], [1, 3], 2],
];

test('split: forward = float64 reference, split∘concat = identity', () => {
  if (!on) return;
  const rng = new Rng(211);
  for (const [shape, sizes, axis] of SPLITS) {
    const x = f32(rng.array(numel(shape)));
    const ax = norm(axis, shape.length);
    const ref = splitRef(x, shape, sizes, ax);
    tidy(() => {
      const xt = t32(x, shape);
      const ys = split(xt, sizes, axis);
      assert.is(ys.length, sizes.length);
      ys.forEach((y, i) => {
        const s = [...shape];
        s[ax] = sizes[i];
        assert.equal(y.shape, s);
        assertClose(y.toArray(), ref[i], EXACT, `split ${shape} ${sizes} part ${i}`);
      });
      assertClose(concat(ys, ax).toArray(), x, EXACT, 'concat(split(x)) = x');
    });
  }
});

test('split: vjp = finite differences, pieces without a gradient count as zeros', () => {
  if (!on) return;
  const rng = new Rng(212);
  for (const [shape, sizes, axis] of SPLITS) {
    const ax = norm(axis, shape.length);
    const last = sizes.length - 1;
    // only the last piece is used: the others receive no gradient
    gradcheck({
      label: `split ${shape} ${sizes} (last piece only)`, rng,
      inputs: [{ data: rng.array(numel(shape)), shape }],
      engine: ([x]) => split(x, sizes, axis)[last],
      ref: ([x]) => splitRef(x, shape, sizes, ax)[last],
    });
    if (sizes.length >= 2) {
      // the first and last pieces, swapped and joined: two gradients, middle ones zero
      gradcheck({
        label: `split ${shape} ${sizes} (first and last)`, rng,
        inputs: [{ data: rng.array(numel(shape)), shape }],
        engine: ([x]) => {
          const ys = split(x, sizes, axis);
          return concat([ys[last], ys[0]], ax);
        },
        ref: ([x]) => {
          const ps = splitRef(x, shape, sizes, ax);
          const s0 = [...shape], sl = [...shape];
          s0[ax] = sizes[0];
          sl[ax] = sizes[last];
          return concatRef([ps[last], ps[0]], [sl, s0], ax).y;
        },
      });
    }
  }
});

const SHUFFLES: [number[], number][] = [[[2, 6, 3, 3], 2], [[1, 12, 2, 5], 3], [[3, 8, 1, 1], 4], [[2, 6, 4, 2], 6], [[1, 4, 3, 3], 1], [[2, 116, 2, 2], 2]];

test('channel_shuffle: forward = reshape-transpose-reshape reference', () => {
  if (!on) return;
  const rng = new Rng(221);
  for (const [shape, g] of SHUFFLES) {
    const x = f32(rng.array(numel(shape)));
    const y = tidy(() => channelShuffle(t32(x, shape), g).toArray());
    assertClose(y, channelShuffleRef(x, shape, g), EXACT, `channel_shuffle ${shape} g=${g}`);
  }
});

test('channel_shuffle: vjp = finite differences (adjoint = shuffle with C/g groups)', () => {
  if (!on) return;
  const rng = new Rng(222);
  for (const [shape, g] of SHUFFLES.slice(0, 5))
    gradcheck({ label: `channel_shuffle ${shape} g=${g}`, rng, inputs: [{ data: rng.array(numel(shape)), shape }], engine: ([x]) => channelShuffle(x, g), ref: ([x]) => channelShuffleRef(x, shape, g) });
});

const PERMS: [number[], number[]][] = [
  [[3, 5], [1, 0]],
  [[2, 3, 4, 5], [0, 2, 3, 1]],
  [[2, 3, 4, 5], [0, 3, 1, 2]],
  [[2, 3, 4], [2, 1, 0]],
  [[2, 3, 2, 3, 2], [4, 0, 3, 1, 2]],
  [[2, 1, 3, 2, 2, 3], [5, 3, 1, 0, 4, 2]],
  [[4, 3, 2], [0, 1, 2]],
  [[7], [0]],
];

test('transpose: forward = float64 reference (identity, 1-D .. 6-D)', () => {
  if (!on) return;
  const rng = new Rng(231);
  for (const [shape, perm] of PERMS) {
    const x = f32(rng.array(numel(shape)));
    tidy(() => {
      const y = transpose(t32(x, shape), perm);
      assert.equal(y.shape, perm.map((p) => shape[p]));
      assertClose(y.toArray(), transposeRef(x, shape, perm), EXACT, `transpose ${shape} ${perm}`);
    });
  }
});

test('transpose: vjp = finite differences (inverse permutation)', () => {
  if (!on) return;
  const rng = new Rng(232);
  for (const [shape, perm] of PERMS.slice(0, 6))
    gradcheck({ label: `transpose ${shape} ${perm}`, rng, inputs: [{ data: rng.array(numel(shape)), shape }], engine: ([x]) => transpose(x, perm), ref: ([x]) => transposeRef(x, shape, perm) });
});

const PADS: [number[], number[], number][] = [
  [[2, 3, 4, 5], [1, 1, 1, 1], 0],
  [[1, 2, 5, 5], [0, 1, 0, 1], 0], // TF "same" for stride 2 (EfficientNet-b1-pruned)
  [[2, 1, 3, 6], [2, 0, 1, 3], -1.5],
  [[3, 4, 2], [1, 2, 0, 0], 7],
  [[2, 2, 1, 2, 3], [0, 0, 2, 1], 0.25],
  [[1, 1, 4, 4], [0, 0, 0, 0], 0],
  [[2, 3], [3, 1, 1, 2], 2],
];

test('pad2d: forward = float64 reference (asymmetric, constant value, ranks 2-5)', () => {
  if (!on) return;
  const rng = new Rng(241);
  for (const [shape, pads, value] of PADS) {
    const x = f32(rng.array(numel(shape)));
    const ref = pad2dRef(x, shape, pads, value);
    tidy(() => {
      const y = pad2d(t32(x, shape), pads, value);
      assert.equal(y.shape, ref.shape);
      assertClose(y.toArray(), ref.y, EXACT, `pad2d ${shape} ${pads}`);
    });
  }
});

test('pad2d: vjp = finite differences (a crop)', () => {
  if (!on) return;
  const rng = new Rng(242);
  for (const [shape, pads, value] of PADS.slice(0, 6))
    gradcheck({ label: `pad2d ${shape} ${pads}`, rng, inputs: [{ data: rng.array(numel(shape)), shape }], engine: ([x]) => pad2d(x, pads, value), ref: ([x]) => pad2dRef(x, shape, pads, value).y });
});

test('pad2d: a −∞ border (as F.pad takes it) before a max pool = the pool\'s own padding; NaN is refused', () => {
  if (!on) return;
  const rng = new Rng(243);
  const shape = [2, 3, 5, 7], x = f32(rng.array(numel(shape)));
  tidy(() => {
    // pad2d's value went through a finite-number check: −∞, which F.pad takes, was refused
    const viaPad = maxpool2d(pad2d(t32(x, shape), [1, 1, 1, 1], -Infinity), { kernel: 3, stride: 1 }).toArray();
    assert.equal([...viaPad], [...maxpool2d(t32(x, shape), { kernel: 3, stride: 1, padding: 1 }).toArray()]);
    assert.equal([...pad2d(t32([1], [1, 1]), [0, 0, 1, 0], Infinity).toArray()], [Infinity, 1]);
    expectError(() => pad2d(t32(x, shape), [1, 1, 1, 1], NaN), 'EINVAL', 'pad2d', /'value' must be a number \(±Infinity included\), got NaN/, 'NaN');
  });
});

test.run();
