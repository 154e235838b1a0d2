import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { native } from '../../ts/native/binding';
import { reorder } from '../../ts/ops/reorder';
import { empty, tensor, tidy } from '../../ts/tensor';
import { assertClose, DEVICE, deviceAvailable, f32, numel, Rng, t32 } from '../helpers';
import { reorderRef } from '../ref/reorder';

// reorder moves values: bit-exact. Shapes: odd sizes, C = 1 and H = W = 1 (the layouts
// coincide there), a zero-size batch.
const EXACT = { atol: 0, rtol: 0 };
const on = deviceAvailable('reorder');
const SHAPES = [[2, 3, 4, 5], [1, 1, 7, 3], [3, 16, 1, 1], [1, 5, 9, 2], [0, 4, 3, 3], [2, 64, 6, 6]];

test('reorder: nchw ↔ nhwc = float64 reference, and back again is the identity', () => {
  if (!on) return;
  const rng = new Rng(1401);
  for (const s of SHAPES) {
    const x = f32(rng.array(numel(s)));
    tidy(() => {
      const t = t32(x, s);
      const p = reorder(t, 'nchw', 'nhwc');
      assert.equal(p.shape, s);
      assertClose(p.toArray(), reorderRef(x, s, 'nchw', 'nhwc'), EXACT, `nchw→nhwc ${s}`);
      assertClose(reorder(p, 'nhwc', 'nchw').toArray(), x, EXACT, `round trip ${s}`);
      assertClose(reorder(t, 'nchw', 'nchw').toArray(), x, EXACT, `same layout ${s}`);
    });
  }
});

test('reorder: int32 and uint8 move too (layout only)', () => {
  if (!on) return;
  tidy(() => {
    const s = [2, 3, 2, 2];
    const v = Array.from({ length: 24 }, (_, i) => i);
    for (const dtype of ['int32', 'uint8'] as const) {
      const y = reorder(tensor(dtype === 'int32' ? Int32Array.from(v) : Uint8Array.from(v), s, { device: DEVICE }), 'nchw', 'nhwc');
      assert.equal(Array.from(y.toArray()), Array.from(reorderRef(v, s, 'nchw', 'nhwc')), dtype);
    }
  });
});

test('reorder: bad layouts, ranks and dtypes are named errors', () => {
  if (!on) return;
  tidy(() => {
    const x = t32(new Float64Array(24), [2, 3, 2, 2]);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        assert.instance(e, MdmtError);
        return `${(e as MdmtError).code}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    assert.match(code(() => reorder(x, 'nchw', 'nhcw' as never)), /EINVAL.*'to' must be one of/);
    assert.match(code(() => reorder(t32([1, 2], [2]), 'nchw', 'nhwc')), /ESHAPE.*4 dims/);
    // the native checks, past the TypeScript ones
    const y = empty([2, 3, 2, 2], 'float32', DEVICE);
    assert.match(code(() => native().run('reorder', [x.id], [y.id], { from: 'nchw', to: 'chwn' })), /EINVAL.*'nchw' or 'nhwc'/);
    assert.match(code(() => native().run('reorder', [x.id], [y.id], { from: 'nchw', to: 'nchw8c' })), /ENOTIMPL.*nchw8c/);
    const b = empty([2, 3, 2, 2], 'int32', DEVICE);
    assert.match(code(() => native().run('reorder', [x.id], [b.id], { from: 'nchw', to: 'nhwc' })), /EDTYPE.*float32 and bfloat16 only/);
    if (DEVICE === 'cpu') {
      const h = empty([2, 3, 2, 2], 'bfloat16', DEVICE);
      assert.match(code(() => native().run('reorder', [x.id], [h.id], { from: 'nchw', to: 'nhwc' })), /EDTYPE.*cuda only/);
    }
    const z = empty([2, 3, 2, 3], 'float32', DEVICE);
    assert.match(code(() => native().run('reorder', [x.id], [z.id], { from: 'nchw', to: 'nhwc' })), /ESHAPE/);
  });
});

test.run();
