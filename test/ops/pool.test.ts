import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { avgpool2d, globalAvgpool, maxpool2d } from '../../ts/ops/pool';
import { runOp } from '../../ts/ops/op';
import { tensor, tidy } from '../../ts/tensor';
import { assertClose, assertNoLeak, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { rerunUnderIsaCaps } from './_isa';
import { avgpoolRef, globalAvgpoolRef, maxpoolArgRef, maxpoolRef, PoolCfg, poolShape } from '../ref/pool';

// maxpool selects one of its inputs: exact. avgpool sums ≤ 16 float32 terms of |x| ≤ 1
// and divides: a few ulp. global_avgpool sums in double on the CPU: one rounding.
const EXACT = { atol: 0, rtol: 0 };
const AVG_TOL = { atol: 1e-6, rtol: 1e-5 };
const GAP_TOL = { atol: 1e-6, rtol: 1e-6 };
const on = deviceAvailable('pool');

interface Case extends PoolCfg {
  x: number[];
  why: string;
}
const cfg = (x: number[], k: number | [number, number], s: number | [number, number], p: number | [number, number], ceil: boolean, why: string): Case => {
  const two = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
  return { x, k: two(k), s: two(s), p: two(p), ceil, why };
};
const CASES: Case[] = [
  cfg([2, 3, 9, 9], 3, 2, 1, false, 'ResNet stem 3/2/1'),
  cfg([1, 2, 12, 10], 3, 2, 0, true, 'GoogLeNet 3/2 ceil, partial last window, batch 1'),
  cfg([2, 3, 7, 5], 2, 2, 0, true, 'GoogLeNet 2/2 ceil, odd sizes'),
  cfg([2, 2, 8, 13], [3, 2], [1, 2], [1, 0], false, 'asymmetric H≠W, rectangular kernel and stride'),
  cfg([1, 3, 10, 7], 4, 3, 2, true, 'kernel > stride, padding = k/2, ceil'),
  cfg([1, 1, 5, 5], 3, 3, 1, true, 'ceil window that would start in the right padding is dropped'),
  cfg([3, 4, 6, 6], 2, 1, 0, false, 'stride 1, overlapping windows, batch 3'),
  cfg([1, 2, 2, 3], 3, 2, 0, true, 'ceil: one window larger than the input'),
  cfg([2, 2, 6, 9], [2, 3], [2, 3], [1, 1], true, 'padding with ceil on both dims'),
  cfg([1, 2, 33, 47], 3, 2, 1, false, 'rows wider than a vector, odd'),
  cfg([1, 1, 20, 70], 3, 2, 0, true, 'wide rows, ceil'),
  cfg([2, 1, 9, 37], 5, 1, 2, false, 'stride 1, kernel 5, padding 2 (MobileNet-style)'),
  cfg([2, 3, 8, 8], 3, 1, 1, true, 'GoogLeNet inception pool 3/1/1 on 8×8 (half a vector per row)'),
  cfg([1, 2, 5, 19], 3, 1, 1, false, 'odd output rows (the last row of a pair alone), 16 + 3 columns'),
  cfg([1, 2, 7, 35], 3, 2, 1, true, 'stride 2, ceil, an odd number of output rows'),
  cfg([1, 1, 4, 40], [2, 17], [1, 1], [0, 8], false, 'kernel wider than 16 taps'),
];
const opts = (c: Case) => ({ kernel: c.k, stride: c.s, padding: c.p, ceilMode: c.ceil });
const attrs = (c: Case) => ({ kernel: c.k, stride: c.s, padding: c.p, ceil_mode: c.ceil });

/** distinct values spaced 1/n apart in [-1, 1): argmax stable under ±1e-4 steps */
function distinct(rng: Rng, n: number): Float64Array {
  const v = Array.from({ length: n }, (_, i) => -1 + (2 * i) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [v[i], v[j]] = [v[j], v[i]];
  }
  return Float64Array.from(v);
}

test('pool output sizes equal PyTorch (the zoo shapes and the ceil_mode edge rules)', () => {
  if (!on) return;
  // [input H, W], options, expected output H, W (from torch.nn.functional)
  const known: [number[], Parameters<typeof maxpool2d>[1], number[]][] = [
    [[112, 112], { kernel: 3, stride: 2, padding: 1 }, [56, 56]], // ResNet
    [[112, 112], { kernel: 3, stride: 2, ceilMode: true }, [56, 56]], // GoogLeNet maxpool1
    [[56, 56], { kernel: 3, stride: 2, ceilMode: true }, [28, 28]], // maxpool2
    [[28, 28], { kernel: 3, stride: 2, ceilMode: true }, [14, 14]], // maxpool3
    [[14, 14], { kernel: 2, stride: 2, ceilMode: true }, [7, 7]], // maxpool4
    [[14, 14], { kernel: 3, stride: 1, padding: 1, ceilMode: true }, [14, 14]], // inception branch pool
    [[13, 13], { kernel: 3, stride: 2 }, [6, 6]],
    [[13, 13], { kernel: 3, stride: 2, ceilMode: true }, [6, 6]],
    [[12, 12], { kernel: 3, stride: 2, ceilMode: true }, [6, 6]],
    [[12, 12], { kernel: 3, stride: 2 }, [5, 5]],
    [[5, 5], { kernel: 3, stride: 3, padding: 1, ceilMode: true }, [2, 2]],
    [[2, 3], { kernel: 3, stride: 2, ceilMode: true }, [1, 1]],
    [[7, 9], { kernel: [2, 3], stride: [1, 2] }, [6, 4]],
  ];
  for (const [hw, o, want] of known) {
    tidy(() => {
      const x = t32(new Float64Array(2 * hw[0] * hw[1]), [1, 2, ...hw]);
      assert.equal(maxpool2d(x, o).shape, [1, 2, ...want], `maxpool2d ${hw} ${JSON.stringify(o)}`);
      assert.equal(avgpool2d(x, o).shape, [1, 2, ...want], `avgpool2d ${hw} ${JSON.stringify(o)}`);
      const two = (v: number | readonly number[] | undefined, d: number): [number, number] =>
        v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
      const k = two(o.kernel, 0);
      assert.equal(poolShape([1, 2, ...hw], { k, s: two(o.stride, k[0]), p: two(o.padding, 0), ceil: !!o.ceilMode }), [1, 2, ...want], 'reference sizes');
    });
  }
  // DenseNet transitions
  for (const [h, w] of [[56, 28], [28, 14], [14, 7]])
    tidy(() => assert.equal(avgpool2d(t32(new Float64Array(h * h), [1, 1, h, h]), { kernel: 2, stride: 2 }).shape, [1, 1, w, w]));
});

test('maxpool2d: forward and argmax indices = float64 reference', () => {
  if (!on) return;
  const rng = new Rng(101);
  for (const c of CASES) {
    const x = f32(rng.array(numel(c.x)));
    tidy(() => {
      const xt = t32(x, c.x);
      const y = maxpool2d(xt, opts(c));
      assert.equal(y.shape, poolShape(c.x, c), `${c.why}: shape`);
      assertClose(y.toArray(), maxpoolRef(x, c.x, c), EXACT, `maxpool2d ${c.why}`);
      const [y2, idx] = runOp('maxpool2d', [xt], attrs(c), [{ shape: y.shape }, { shape: y.shape, dtype: 'int32' }]);
      assertClose(y2.toArray(), y.toArray(), EXACT, `maxpool2d raw ${c.why}`);
      assertClose(idx.toArray(), maxpoolArgRef(x, c.x, c), EXACT, `maxpool2d indices ${c.why}`);
    });
  }
});

test('maxpool2d: NaN propagates, ties pick the first maximum, -inf padding never wins', () => {
  if (!on) return;
  tidy(() => {
    const x = tensor([1, NaN, 3, 2], [1, 1, 2, 2]);
    assert.ok(Number.isNaN(maxpool2d(x, { kernel: 2 }).item()), 'NaN in the window gives NaN');
    const t = tensor([5, 5, 5, 5], [1, 1, 2, 2]);
    const [, idx] = runOp('maxpool2d', [t], { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false }, [{ shape: [1, 1, 1, 1] }, { shape: [1, 1, 1, 1], dtype: 'int32' }]);
    assert.is(idx.item(), 0, 'first of equal maxima');
    const neg = tensor([-7, -8, -9, -6], [1, 1, 2, 2]);
    assert.equal(Array.from(maxpool2d(neg, { kernel: 2, stride: 1, padding: 1 }).toArray()), [-7, -7, -8, -7, -6, -6, -9, -6, -6]);
  });
});

test('maxpool2d: ties, NaN and -inf on every case: values and argmax = PyTorch\'s rule (float64 reference)', () => {
  if (!on) return;
  // few distinct levels, so windows hold ties; NaN (a later NaN replaces an earlier one) and
  // -inf (a window of -inf keeps its first cell inside the input)
  const rng = new Rng(104);
  const levels = [-Infinity, -1, 0, 0.5, NaN];
  for (const c of CASES)
    for (const pNaN of [0, 0.05]) {
      const x = Float64Array.from({ length: numel(c.x) }, () => (rng.next() < pNaN ? NaN : levels[rng.int(0, 3)]));
      tidy(() => {
        const [y, idx] = runOp('maxpool2d', [t32(x, c.x)], attrs(c), [{ shape: poolShape(c.x, c) }, { shape: poolShape(c.x, c), dtype: 'int32' }]);
        const want = maxpoolRef(x, c.x, c), at = maxpoolArgRef(x, c.x, c), got = y.toArray(), gi = idx.toArray();
        for (let i = 0; i < want.length; i++) {
          assert.ok(Object.is(got[i], want[i]) || (got[i] === 0 && want[i] === 0), `${c.why} (NaN ${pNaN}): y[${i}] = ${got[i]}, want ${want[i]}`);
          assert.is(gi[i], at[i], `${c.why} (NaN ${pNaN}): indices[${i}]`);
        }
      });
    }
});

test('maxpool2d: vjp = finite differences (distinct inputs: stable argmax)', () => {
  if (!on) return;
  const rng = new Rng(102);
  for (const c of CASES) {
    gradcheck({
      label: `maxpool2d ${c.why}`, rng, samples: 64,
      inputs: [{ data: distinct(rng, numel(c.x)), shape: c.x }],
      engine: ([x]) => maxpool2d(x, opts(c)),
      ref: ([x]) => maxpoolRef(x, c.x, c),
    });
  }
});

test('maxpool2d: no indices are kept when no gradient is needed', () => {
  if (!on) return;
  const x = t32(new Rng(103).array(2 * 3 * 8 * 8), [2, 3, 8, 8]);
  assertNoLeak('maxpool2d without grad', () => maxpool2d(x, { kernel: 3, stride: 2 }).dispose());
  x.requiresGrad = true;
  assertNoLeak('maxpool2d under noGrad', () => noGrad(() => maxpool2d(x, { kernel: 3, stride: 2 })).dispose());
  x.dispose();
});

for (const includePad of [true, false]) {
  test(`avgpool2d (countIncludePad=${includePad}): forward = float64 reference`, () => {
    if (!on) return;
    const rng = new Rng(includePad ? 111 : 112);
    for (const c of CASES) {
      const x = f32(rng.array(numel(c.x)));
      const y = tidy(() => avgpool2d(t32(x, c.x), { ...opts(c), countIncludePad: includePad }).toArray());
      assertClose(y, avgpoolRef(x, c.x, { ...c, includePad }), AVG_TOL, `avgpool2d ${c.why}`);
    }
  });
  test(`avgpool2d (countIncludePad=${includePad}): vjp = finite differences`, () => {
    if (!on) return;
    const rng = new Rng(includePad ? 113 : 114);
    for (const c of CASES) {
      gradcheck({
        label: `avgpool2d ${c.why}`, rng, samples: 64,
        inputs: [{ data: rng.array(numel(c.x)), shape: c.x }],
        engine: ([x]) => avgpool2d(x, { ...opts(c), countIncludePad: includePad }),
        ref: ([x]) => avgpoolRef(x, c.x, { ...c, includePad }),
      });
    }
  });
}

test('avgpool2d: ceil_mode edge windows divide by the clipped window (PyTorch values)', () => {
  if (!on) return;
  // torch.nn.functional.avg_pool2d(torch.arange(16.).view(1,1,4,4), 3, 2, ceil_mode=True)
  //   -> [[5.0, 6.5], [11.0, 12.5]]
  const y = tidy(() => avgpool2d(tensor(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]), { kernel: 3, stride: 2, ceilMode: true }).toArray());
  assert.equal(Array.from(y), [5, 6.5, 11, 12.5]);
});

test('pool options: a misspelt key is refused (it pooled with the default stride), avgpool2d\'s own key is its only', () => {
  if (!on) return;
  tidy(() => {
    const x = tensor(new Array(16).fill(1), [1, 1, 4, 4]);
    assert.throws(() => maxpool2d(x, { kernel: 2, strid: 1 } as never), /maxpool2d: unknown option 'strid' \(it would be ignored\); did you mean stride\?/);
    assert.throws(() => maxpool2d(x, { kernel: 2, countIncludePad: false } as never), /maxpool2d: unknown option 'countIncludePad'/);
    assert.throws(() => avgpool2d(x, { kernel: 2, ceil_mode: true } as never), /avgpool2d: unknown option 'ceil_mode'.*did you mean ceilMode\?/);
    assert.equal(avgpool2d(x, { kernel: 2, countIncludePad: false }).shape, [1, 1, 2, 2]);
  });
});

const GAP_SHAPES = [[2, 3, 7, 7], [1, 5, 1, 1], [4, 2, 3, 8], [1, 1, 13, 2], [3, 16, 4, 4], [2, 1, 1, 9], [2, 3, 37, 29]];

test('global_avgpool: forward = float64 reference', () => {
  if (!on) return;
  const rng = new Rng(121);
  for (const s of GAP_SHAPES) {
    const x = f32(rng.array(numel(s), -3, 3));
    tidy(() => {
      const y = globalAvgpool(t32(x, s));
      assert.equal(y.shape, [s[0], s[1], 1, 1]);
      assertClose(y.toArray(), globalAvgpoolRef(x, s), GAP_TOL, `global_avgpool ${s}`);
    });
  }
});

test('global_avgpool: vjp = finite differences', () => {
  if (!on) return;
  const rng = new Rng(122);
  for (const s of GAP_SHAPES)
    gradcheck({ label: `global_avgpool ${s}`, rng, inputs: [{ data: rng.array(numel(s)), shape: s }], engine: ([x]) => globalAvgpool(x), ref: ([x]) => globalAvgpoolRef(x, s) });
});

rerunUnderIsaCaps(__filename, 'pool');
test.run();
