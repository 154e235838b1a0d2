/**
 * The vectorised exp behind sigmoid, silu and silu_bwd (native/cpu/vmath.h) against
 * float64 over the whole float range that matters, on every ISA path (this process: the
 * best here; children: MDMT_CPU_ISA=generic and avx2). The error bounds are the ones
 * vmath.h states: sigmoid and silu ≤ 3e-7 relative (plus < 1.2e-38·max(1, |x|) absolute
 * where the true value underflows); for x ≤ −17, sigmoid(x) = e^x to float precision, so that range
 * checks exp itself.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runOp } from '../../ts/ops/op';
import { tensor, tidy } from '../../ts/tensor';
import { assertClose, DEVICE, f32 } from '../helpers';
import { activationRefs } from '../ref/activations';
import { rerunUnderIsaCaps } from './_isa';

const on = DEVICE === 'cpu';
if (!on) console.log('  [skip] vmath: CPU-only suite (MDMT_DEVICE is not cpu)');

// a dense grid over [−100, 100] (odd count: tails of every vector width), the edges of the
// exp clamp, tiny and signed-zero inputs
const GRID = (() => {
  const xs: number[] = [];
  for (let i = 0; i <= 40001; i++) xs.push(-100 + (200 * i) / 40001);
  xs.push(0, -0, 1e-30, -1e-30, 1e-45, 87, -87, 87.5, -87.5, 88, -88, 88.5, -88.5, 89, -89, 0.5, -0.5, 17, -17);
  return f32(xs);
})();
// where σ(x) falls below FLT_MIN (x < −87.3) the reciprocal underflows: sigmoid is off by
// < 1.2e-38, silu by < 1.2e-38·|x|
const BOUND = { sigmoid: { atol: 1.2e-38, rtol: 3e-7 }, silu: { atol: 1.2e-36, rtol: 3e-7 } };

function run(op: 'sigmoid' | 'silu', x: Float64Array): Float32Array {
  return tidy(() => runOp(op, [tensor(Float32Array.from(x), [x.length])], {}, [{ shape: [x.length] }])[0].toArray() as Float32Array);
}

for (const op of ['sigmoid', 'silu'] as const) {
  test(`${op}: ≤ 3e-7 relative to float64 on [−100, 100] and the exp clamp edges`, () => {
    if (!on) return;
    const y = run(op, GRID);
    assertClose(y, GRID.map(activationRefs[op]), BOUND[op], op);
  });
}

test('exp (as sigmoid(x) = e^x for x ≤ −17): ≤ 3e-7 relative down to the clamp', () => {
  if (!on) return;
  const xs = f32(Array.from({ length: 7001 }, (_, i) => -87 + (70 * i) / 7000));
  const y = run('sigmoid', xs);
  assertClose(y, xs.map((x) => 1 / (1 + Math.exp(-x))), { atol: 0, rtol: 3e-7 }, 'exp');
});

test('sigmoid/silu: infinities and NaN', () => {
  if (!on) return;
  const y = run('sigmoid', Float64Array.from([Infinity, -Infinity, NaN]));
  assert.equal([y[0], y[1]], [1, y[1]]);
  assert.ok(y[1] >= 0 && y[1] < 1e-37, `sigmoid(−∞) = ${y[1]}`);
  assert.ok(Number.isNaN(y[2]), 'sigmoid(NaN) is NaN');
  const s = run('silu', Float64Array.from([Infinity, NaN, -0]));
  assert.is(s[0], Infinity);
  assert.ok(Number.isNaN(s[1]), 'silu(NaN) is NaN');
  assert.is(s[2], 0);
});

test('silu_bwd = dy·σ(x)·(1 + x·(1 − σ(x))) in float64', () => {
  if (!on) return;
  const x = GRID, n = x.length;
  const dy = f32(Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)));
  const got = tidy(() => runOp('silu_bwd', [tensor(Float32Array.from(dy), [n]), tensor(Float32Array.from(x), [n])], {}, [{ shape: [n] }])[0].toArray());
  const ref = x.map((v, i) => {
    const s = 1 / (1 + Math.exp(-v));
    return dy[i] * s * (1 + v * (1 - s));
  });
  // the derivative is a difference of terms up to |x|·σ·(1−σ) ≈ 0.3 at its largest: 1e-7 absolute
  assertClose(got, ref, { atol: 1e-7, rtol: 1e-6 }, 'silu_bwd');
});

// Far below the clamp σ is 0 (as sigmoid), so the gradient is 0, and NaN at x = −∞ (−∞·0), as
// PyTorch's: AVX-512 and the portable body gave −∞ and −6e−9 there (σ floored at ~6e−39), AVX2 NaN and 0
test('silu_bwd far below the clamp: 0, NaN at −∞, the same on every ISA', () => {
  if (!on) return;
  const x = [-Infinity, -1e30, -1e6, -200, -88, -87.4], n = x.length;
  const got = tidy(() => runOp('silu_bwd', [tensor(new Float32Array(n).fill(1), [n]), tensor(Float32Array.from(x), [n])], {}, [{ shape: [n] }])[0].toArray());
  assert.ok(Number.isNaN(got[0]), `x = −∞: ${got[0]}`);
  assert.equal([...got.slice(1)].map((v) => v === 0 ? 0 : v), [0, 0, 0, 0, 0], 'x ≤ −87.4');
});

rerunUnderIsaCaps(__filename, 'vmath');
test.run();
