/** linear and matmul (through the SGEMM) against float64 triple loops; vjps by finite differences. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { linear, matmul } from '../../ts/ops/linear';
import { tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { linearRef, matmulRef } from '../ref/linear';

const on = deviceAvailable('linear');
// float32 dot products of length K against float64
const tol = (K: number) => ({ atol: 1e-5 + 2e-7 * K, rtol: 1e-5 });

// [N, I, O]: the MDMT heads (in → 128 → 32 → 2, BX → 4), batch 1, odd and K > KC sizes
const LIN: [number, number, number][] = [[4, 2048, 128], [5, 128, 32], [3, 32, 2], [1, 1280, 4], [7, 300, 17], [33, 9, 1]];

test('linear forward = float64 reference, with and without bias', () => {
  if (!on) return;
  const rng = new Rng(301);
  for (const [N, I, O] of LIN)
    for (const bias of [true, false]) {
      const x = f32(rng.array(N * I)), w = f32(rng.array(O * I)), b = bias ? f32(rng.array(O)) : null;
      const y = tidy(() => linear(t32(x, [N, I]), t32(w, [O, I]), b && t32(b, [O])).toArray());
      assertClose(y, linearRef(x, N, I, w, O, b), tol(I), `linear ${N}x${I}->${O} bias=${bias}`);
    }
});

test('linear vjp (x, w, b) = finite differences', () => {
  if (!on) return;
  const rng = new Rng(302);
  for (const [N, I, O] of [[3, 7, 4], [1, 5, 2], [6, 4, 3]]) {
    gradcheck({
      label: `linear ${N}x${I}->${O}`, rng,
      inputs: [{ data: rng.array(N * I), shape: [N, I] }, { data: rng.array(O * I), shape: [O, I] }, { data: rng.array(O), shape: [O] }],
      engine: ([x, w, b]) => linear(x, w, b),
      ref: ([x, w, b]) => linearRef(x, N, I, w, O, b),
    });
  }
});

test('matmul forward and vjp, all four transpose combinations', () => {
  if (!on) return;
  const rng = new Rng(303);
  const [M, K, N] = [5, 6, 4];
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      const as = transA ? [K, M] : [M, K], bs = transB ? [N, K] : [K, N];
      const a = f32(rng.array(numel(as))), b = f32(rng.array(numel(bs)));
      const c = tidy(() => matmul(t32(a, as), t32(b, bs), { transA, transB }).toArray());
      assertClose(c, matmulRef(a, as, b, bs, transA, transB), tol(K), `matmul tA=${transA} tB=${transB}`);
      gradcheck({
        label: `matmul tA=${transA} tB=${transB}`, rng,
        inputs: [{ data: a, shape: as }, { data: b, shape: bs }],
        engine: ([x, y]) => matmul(x, y, { transA, transB }),
        ref: ([x, y]) => matmulRef(x, as, y, bs, transA, transB),
      });
    }
});

test('linear and matmul reject mismatched shapes, naming the op and the shapes', () => {
  if (!on) return;
  const err = (fn: () => unknown) => {
    try {
      tidy(fn);
    } catch (e) {
      return e as Error & { code: string };
    }
    return assert.unreachable('no error') as never;
  };
  let e = err(() => linear(t32(new Float64Array(6), [2, 3]), t32(new Float64Array(8), [2, 4])));
  assert.is(e.code, 'ESHAPE');
  assert.match(e.message, /linear: x \[2, 3\] has 3 features but w \[2, 4\] expects 4/);
  e = err(() => linear(t32(new Float64Array(6), [2, 3]), t32(new Float64Array(6), [2, 3]), t32([1, 2, 3], [3])));
  assert.match(e.message, /linear: b \[3\] must have 2 elements/);
  e = err(() => matmul(t32(new Float64Array(6), [2, 3]), t32(new Float64Array(6), [2, 3])));
  assert.is(e.code, 'ESHAPE');
  assert.match(e.message, /matmul: inner dimensions differ: op\(a\) is 2x3 \(a \[2, 3\]\), op\(b\) is 2x3/);
  e = err(() => matmul(t32(new Float64Array(6), [6]), t32(new Float64Array(6), [2, 3])));
  assert.match(e.message, /matmul: 'a' must have 2 dims/);
  // a misspelt transpose flag multiplied the untransposed matrices
  e = err(() => matmul(t32(new Float64Array(4), [2, 2]), t32(new Float64Array(4), [2, 2]), { transa: true } as never));
  assert.is(e.code, 'EINVAL');
  assert.match(e.message, /matmul: unknown option 'transa' \(it would be ignored\); did you mean transA\?/);
});

test.run();
