/**
 * The memory family (docs/ops.md "memory"): fill, copy and cast against the float64
 * references of test/ref/memory.ts, for every dtype the host reads (float32, int32,
 * uint8), exactly: these ops move or convert values, they do not compute.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { cast, copy, fill_ } from '../../ts/ops/memory';
import { empty, full, tensor, tidy } from '../../ts/tensor';
import { assertClose, DEVICE, deviceAvailable, expectError, gradcheck, numel, Rng } from '../helpers';
import { castRef, fillRef, HostDType } from '../ref/memory';

const EXACT = { atol: 0, rtol: 0 };
const on = deviceAvailable('memory');
const DTYPES: HostDType[] = ['float32', 'int32', 'uint8'];
const SHAPES = [[2, 3, 4], [17], [1, 1, 5, 3], [0, 4]];

/** Values each source dtype holds and every target can store (uint8 from float32: [0, 256)). */
function data(rng: Rng, from: HostDType, to: HostDType, n: number): number[] {
  if (from === 'uint8') return Array.from({ length: n }, () => rng.int(0, 255));
  if (from === 'int32') return Array.from({ length: n }, (_, i) => (i === 0 ? 16777217 : rng.int(-100000, 100000)));
  if (to === 'uint8') return Array.from(Float32Array.from({ length: n }, () => rng.uniform(0, 255.99)));
  return Array.from(Float32Array.from({ length: n }, (_, i) => (i === 0 ? -7.9 : rng.uniform(-1e6, 1e6))));
}

test('fill: every element holds the value as the dtype stores it', () => {
  if (!on) return;
  for (const dtype of DTYPES)
    for (const value of [0, 1, 0.1, -7.9, 200.7])
      for (const shape of SHAPES) {
        if (dtype === 'uint8' && value < 0) continue;
        const y = tidy(() => fill_(empty(shape, dtype, DEVICE), value).toArray());
        assertClose(y, fillRef(numel(shape), value, dtype), EXACT, `fill ${dtype} ${value} ${JSON.stringify(shape)}`);
        const z = tidy(() => full(shape, value, { dtype, device: DEVICE }).toArray());
        assertClose(z, fillRef(numel(shape), value, dtype), EXACT, `full ${dtype} ${value}`);
      }
});

test('fill_ takes what full() takes: ±Infinity in float32, only in-range integers in int32', () => {
  if (!on) return;
  tidy(() => {
    // fill_ refused −∞ ('a number in [-Infinity, Infinity]') where full() gave a −∞ tensor
    for (const v of [-Infinity, Infinity])
      assert.equal([...fill_(empty([3], 'float32', DEVICE), v).toArray()], [...full([3], v, { device: DEVICE }).toArray()], `float32 ${v}`);
    expectError(() => fill_(empty([2], 'int32', DEVICE), -Infinity), 'EINVAL', 'fill', /value -Infinity is not a number int32 can hold/, 'int32 −∞');
    expectError(() => fill_(empty([2], 'float32', DEVICE), '1' as never), 'EINVAL', 'fill', /value "1" is not a number/, 'a string');
  });
});

test('copy: the same values in a new tensor, every dtype; vjp = identity', () => {
  if (!on) return;
  const rng = new Rng(51);
  for (const dtype of DTYPES)
    for (const shape of SHAPES) {
      const x = data(rng, dtype, dtype, numel(shape));
      const y = tidy(() => {
        const t = tensor(x, shape, { dtype, device: DEVICE });
        const c = copy(t);
        assert.is.not(c.id, t.id);
        return c.toArray();
      });
      assertClose(y, castRef(x, dtype, dtype), EXACT, `copy ${dtype} ${JSON.stringify(shape)}`);
    }
  gradcheck({ label: 'copy', rng, inputs: [{ data: rng.array(24), shape: [2, 3, 4] }], engine: ([t]) => copy(t), ref: ([t]) => t });
});

test('cast: every pair of host dtypes (float → int truncates toward zero, int32 → uint8 keeps the low byte)', () => {
  if (!on) return;
  const rng = new Rng(52);
  for (const from of DTYPES)
    for (const to of DTYPES)
      for (const shape of SHAPES) {
        const x = data(rng, from, to, numel(shape));
        const y = tidy(() => cast(tensor(x, shape, { dtype: from, device: DEVICE }), to));
        assert.is(y.dtype, to);
        assertClose(y.toArray(), castRef(x, from, to), EXACT, `cast ${from} -> ${to} ${JSON.stringify(shape)}`);
        y.dispose();
      }
});

test('cast of float out of the integer range: saturated to int32, NaN → 0, uint8 the low byte of that (the same on CPU and CUDA)', () => {
  if (!on) return;
  const x = [NaN, Infinity, -Infinity, 3e10, -3e10, 2147483520, -2147483648, 300.7, -1.5, 255.9, 256, -0.5];
  const i32 = [0, 2147483647, -2147483648, 2147483647, -2147483648, 2147483520, -2147483648, 300, -1, 255, 256, 0];
  const y = tidy(() => [cast(tensor(x, [x.length], { device: DEVICE }), 'int32').toArray(), cast(tensor(x, [x.length], { device: DEVICE }), 'uint8').toArray()]);
  assert.equal(Array.from(y[0]), i32, 'float32 → int32');
  assert.equal(Array.from(y[1]), i32.map((v) => v & 255), 'float32 → uint8');
});

test('memory ops reject mismatched operands natively, naming the op and both tensors', () => {
  if (!on) return;
  const n = native();
  const ids = [n.alloc([2, 3], 'float32', DEVICE), n.alloc([3, 2], 'float32', DEVICE), n.alloc([6], 'int32', DEVICE), n.alloc([5], 'float32', DEVICE)];
  try {
    expectError(() => n.run('cast', [ids[0]], [ids[1]]), 'ESHAPE', 'cast', /x \[2, 3\] and y \[3, 2\] differ/, 'cast shapes');
    expectError(() => n.run('copy', [ids[0]], [ids[2]]), 'EDTYPE', 'copy', /x is float32 but y is int32 \(use cast\)/, 'copy dtypes');
    expectError(() => n.run('copy', [ids[0]], [ids[3]]), 'ESHAPE', 'copy', /x \[2, 3\] and y \[5\] differ in size/, 'copy sizes');
    expectError(() => n.run('fill', [], [ids[0]], {}), 'EINVAL', 'fill', /missing attribute 'value'/, 'fill value');
    if (DEVICE === 'cpu') {
      const bf = n.alloc([4], 'bfloat16', 'cpu'), f16 = n.alloc([6], 'float16', 'cpu');
      ids.push(bf, f16);
      expectError(() => n.run('fill', [], [bf], { value: 1 }), 'EDTYPE', 'fill', /fill on cpu supports float32, int32, uint8; got bfloat16/, 'fill bf16');
      expectError(() => n.run('cast', [ids[2]], [f16]), 'EDTYPE', 'cast', /cast int32 -> float16 is not supported on cpu/, 'cast f16');
    }
  } finally {
    for (const id of ids) n.free(id);
  }
});

test.run();
