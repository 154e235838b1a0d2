import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { native } from '../../ts/native/binding';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Tensor, tensor, tidy } from '../../ts/tensor';
import { assertClose, assertNoLeak, deviceAvailable, expectError, f32, gradcheck, Rng, t32, DEVICE } from '../helpers';
import { maskedXentGradRef, maskedXentRef } from '../ref/masked_xent';

// per-row log-sum-exp in double, one float32 rounding of the loss and of each dlogit
const TOL = { atol: 1e-6, rtol: 1e-5 };
const on = deviceAvailable('masked_xent');

const i32 = (a: ArrayLike<number>) => tensor(Int32Array.from(a), [a.length], { dtype: 'int32', device: DEVICE });

interface Case {
  label: string;
  N: number;
  C: number;
  scale: number;
  /** 'mixed' | 'all' (every row active) | 'none' (every row masked out) */
  mask: 'mixed' | 'all' | 'none';
}
const CASES: Case[] = [
  { label: 'AFC head, mixed batch', N: 8, C: 2, scale: 3, mask: 'mixed' },
  { label: 'BX head, mixed batch', N: 9, C: 4, scale: 3, mask: 'mixed' },
  { label: 'batch 1', N: 1, C: 4, scale: 2, mask: 'all' },
  { label: 'logits ±80', N: 6, C: 5, scale: 80, mask: 'mixed' },
  { label: 'no row masked', N: 7, C: 3, scale: 5, mask: 'all' },
  { label: 'all rows masked', N: 5, C: 4, scale: 5, mask: 'none' },
  { label: 'many classes', N: 3, C: 1500, scale: 10, mask: 'mixed' },
  { label: 'one class', N: 4, C: 1, scale: 1, mask: 'mixed' },
];

function make(rng: Rng, c: Case): { z: Float64Array; labels: number[]; mask: number[] } {
  const z = f32(rng.array(c.N * c.C, -c.scale, c.scale));
  const mask = Array.from({ length: c.N }, (_, i) => (c.mask === 'all' ? 1 : c.mask === 'none' ? 0 : i % 3 === 1 ? 0 : rng.next() < 0.7 ? 1 : 0));
  // labels −1 on masked rows, as the data pipeline writes them
  const labels = mask.map((m) => (m ? rng.int(0, c.C - 1) : -1));
  return { z, labels, mask };
}

for (const normalize of ['batch', 'masked'] as const) {
  test(`maskedXent (${normalize}): loss and dlogits = float64 reference`, () => {
    if (!on) return;
    const rng = new Rng(normalize === 'batch' ? 301 : 302);
    for (const c of CASES) {
      const { z, labels, mask } = make(rng, c);
      const [loss, grad] = tidy(() => {
        const zt = t32(z, [c.N, c.C]);
        zt.requiresGrad = true;
        const l = maskedXent(zt, i32(labels), t32(mask, [c.N]), { normalize });
        assert.equal(l.shape, [], 'scalar loss');
        backward(l);
        const g = zt.grad!.toArray();
        zt.grad!.dispose();
        return [l.item(), g];
      });
      assertClose([loss], [maskedXentRef(z, c.N, c.C, labels, mask, normalize)], TOL, `${c.label} loss`);
      assertClose(grad, maskedXentGradRef(z, c.N, c.C, labels, mask, normalize), TOL, `${c.label} dlogits`);
      assert.ok(Number.isFinite(loss), `${c.label}: finite loss`);
    }
  });

  test(`maskedXent (${normalize}) vjp = finite differences (incoming gradient scales dlogits)`, () => {
    if (!on) return;
    const rng = new Rng(normalize === 'batch' ? 303 : 304);
    for (const c of CASES.filter((k) => k.C < 100 && k.scale < 50)) {
      const { z, labels, mask } = make(rng, c);
      gradcheck({
        label: `${c.label} ${normalize}`, rng, samples: 40,
        inputs: [{ data: z, shape: [c.N, c.C] }],
        engine: ([zt]) => maskedXent(zt, i32(labels), t32(mask, [c.N]), { normalize }),
        ref: ([zz]) => Float64Array.of(maskedXentRef(zz, c.N, c.C, labels, mask, normalize)),
      });
    }
  });
}

test('maskedXent: the two-head MDMT loss (sum of two masked terms) sends each head only its rows', () => {
  if (!on) return;
  const rng = new Rng(305);
  const N = 10;
  const isAfc = Array.from({ length: N }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const isBx = isAfc.map((m) => 1 - m);
  const za = f32(rng.array(N * 2, -2, 2)), zb = f32(rng.array(N * 4, -2, 2));
  const la = isAfc.map((m) => (m ? rng.int(0, 1) : -1)), lb = isBx.map((m) => (m ? rng.int(0, 3) : -1));
  const [loss, ga, gb] = tidy(() => {
    const a = t32(za, [N, 2]), b = t32(zb, [N, 4]);
    a.requiresGrad = b.requiresGrad = true;
    const l = add(maskedXent(a, i32(la), t32(isAfc, [N])), maskedXent(b, i32(lb), t32(isBx, [N])));
    backward(l);
    const r = [l.item(), a.grad!.toArray(), b.grad!.toArray()] as const;
    a.grad!.dispose();
    b.grad!.dispose();
    return r;
  });
  assertClose([loss], [maskedXentRef(za, N, 2, la, isAfc) + maskedXentRef(zb, N, 4, lb, isBx)], TOL, 'total');
  for (let i = 0; i < N; i++) {
    if (!isAfc[i]) assert.ok([ga[2 * i], ga[2 * i + 1]].every((v) => v === 0), `AFC head row ${i} (BX sample) gets no gradient`);
    if (!isBx[i]) assert.ok(gb.slice(4 * i, 4 * i + 4).every((v) => v === 0), `BX head row ${i} (AFC sample) gets no gradient`);
  }
});

test('maskedXent: no tensor outlives a step; without a graph dlogits is freed at once', () => {
  if (!on) return;
  assertNoLeak('xent step', () => {
    tidy(() => {
      const z = t32([1, 2, 3, 4], [2, 2]);
      z.requiresGrad = true;
      backward(maskedXent(z, i32([0, 1]), t32([1, 1], [2])));
      z.grad!.dispose();
    });
  });
  tidy(() => {
    const z = t32([1, 2, 3, 4], [2, 2]);
    const labels = i32([0, 1]), mask = t32([1, 0], [2]);
    assertNoLeak('xent no graph', () => maskedXent(z, labels, mask).dispose());
  });
});


test('maskedXent: bad inputs give MdmtError naming the op and the argument', () => {
  if (!on) return;
  tidy(() => {
    const z = t32([1, 2, 3, 4, 5, 6], [3, 2]);
    const m = t32([1, 1, 0], [3]);
    expectError(() => maskedXent(z, t32([0, 1, 0], [3]), m), 'EDTYPE', 'maskedXent', /'labels'.*int32/, 'float labels');
    expectError(() => maskedXent(z, i32([0, 1]), m), 'ESHAPE', 'maskedXent', /'labels'/, 'labels length');
    expectError(() => maskedXent(z, i32([0, 1, 0]), t32([1, 1], [2])), 'ESHAPE', 'maskedXent', /'mask'/, 'mask length');
    expectError(() => maskedXent(t32([1, 2], [2]), i32([0, 1]), t32([1, 1], [2])), 'ESHAPE', 'maskedXent', /'logits'/, 'rank-1 logits');
    expectError(() => maskedXent(t32([], [0, 2]), i32([]), t32([], [0])), 'ESHAPE', 'maskedXent', /'logits' has no rows, got \[0, 2\]/, '0 rows (was a NaN loss)');
    expectError(() => maskedXent(z, i32([0, 1, 0]), m, { normalize: 'mean' as never }), 'EINVAL', 'maskedXent', /'normalize'/, 'normalize');
    expectError(() => maskedXent(z, i32([0, 1, 0]), m, { normalise: 'masked' } as never), 'EINVAL', 'maskedXent', /unknown option 'normalise'.*did you mean normalize\?/, 'typo');
    const d = t32([1, 1, 1], [3]);
    d.dispose();
    expectError(() => maskedXent(z, i32([0, 1, 0]), d), 'EDISPOSED', 'maskedXent', /'mask'/, 'disposed mask');
    // an active row's label out of range: the kernel names the row and the label
    expectError(() => maskedXent(z, i32([0, 2, 0]), m), 'EINVAL', 'masked_xent_fwd_bwd', /row 1.*label 2/, 'label = C');
    expectError(() => maskedXent(z, i32([-1, 0, 0]), m), 'EINVAL', 'masked_xent_fwd_bwd', /row 0.*label -1/, 'label -1 on an active row');
    expectError(() => maskedXent(z, i32([0, 1, 0]), t32([1, 0.5, 0], [3])), 'EINVAL', 'masked_xent_fwd_bwd', /'mask'.*row 1/, 'mask not 0/1');
    // the kernel's own checks, without the TS layer
    const loss = t32([0], []), dz = t32(new Float64Array(6), [3, 2]);
    const run = (ins: Tensor[], outs: Tensor[], attrs = {}) => () => native().run('masked_xent_fwd_bwd', ins.map((t) => t.id), outs.map((t) => t.id), attrs);
    expectError(run([z, i32([0, 1, 0]), m], [loss, t32(new Float64Array(4), [2, 2])]), 'ESHAPE', 'masked_xent_fwd_bwd', /dlogits/, 'native dlogits shape');
    expectError(run([z, t32([0, 1, 0], [3]), m], [loss, dz]), 'EDTYPE', 'masked_xent_fwd_bwd', /labels/, 'native labels dtype');
    expectError(run([z, i32([0, 1, 0]), m], [loss, dz], { normalize: 'sum' }), 'EINVAL', 'masked_xent_fwd_bwd', /normalize/, 'native normalize');
    expectError(run([z, i32([0, 1, 0])], [loss, dz]), 'EINVAL', 'masked_xent_fwd_bwd', /3 input/, 'native input count');
    expectError(run([t32([], [0, 2]), i32([]), t32([], [0])], [loss, t32([], [0, 2])]), 'ESHAPE', 'masked_xent_fwd_bwd', /'logits' has no rows/, 'native 0 rows');
  });
});

test.run();
