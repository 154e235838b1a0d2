import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { MdmtError } from '../../ts/errors';
import { native } from '../../ts/native/binding';
import { batchnorm2d, batchnormAct } from '../../ts/ops/batchnorm';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, assertNoLeak, deviceAvailable, expectError, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { batchStats, bnEvalRef, bnTrainBwdRef, bnTrainRef, runningUpdateRef } from '../ref/batchnorm';
import { rerunUnderIsaCaps } from './_isa';

// statistics in float blocks summed in double, one float32 rounding of the affine coefficients and of y
const TOL = { atol: 2e-5, rtol: 1e-4 };
const STAT_TOL = { atol: 1e-6, rtol: 1e-5 };
const on = deviceAvailable('batchnorm');

// batch 1, asymmetric H≠W, [N, C] input, one channel, a non-zero mean with a small spread
const CASES: { shape: number[]; eps: number; momentum: number; offset: number }[] = [
  { shape: [2, 3, 4, 5], eps: 1e-5, momentum: 0.1, offset: 0 },
  { shape: [1, 4, 3, 7], eps: 1e-5, momentum: 0.1, offset: 0 },
  { shape: [5, 6], eps: 1e-3, momentum: 0.3, offset: 0 },
  { shape: [3, 1, 2, 9], eps: 1e-5, momentum: 1, offset: 0 },
  { shape: [4, 5, 1, 1], eps: 0.5, momentum: 0, offset: 0 },
  { shape: [2, 8, 6, 3], eps: 1e-5, momentum: 0.1, offset: 50 },
  { shape: [16, 2, 33, 31], eps: 1e-5, momentum: 0.1, offset: 0 }, // large enough for several threads
];

interface Case {
  x: Float64Array;
  w: Float64Array;
  b: Float64Array;
  rm: Float64Array;
  rv: Float64Array;
}
function make(rng: Rng, shape: number[], offset: number): Case {
  const C = shape[1];
  return {
    x: f32(rng.array(numel(shape), -2, 2).map((v) => v + offset)),
    w: f32(rng.array(C, 0.5, 1.5)),
    b: f32(rng.array(C, -0.5, 0.5)),
    rm: f32(rng.array(C, -0.2, 0.2)),
    rv: f32(rng.array(C, 0.5, 2)),
  };
}

test('batchnorm2d training: y, running mean and (unbiased) running var = float64 reference', () => {
  if (!on) return;
  const rng = new Rng(101);
  for (const { shape, eps, momentum, offset } of CASES) {
    const c = make(rng, shape, offset);
    const C = shape[1];
    const [y, rm, rv] = tidy(() => {
      const rmT = t32(c.rm, [C]), rvT = t32(c.rv, [C]);
      const out = batchnorm2d(t32(c.x, shape), t32(c.w, [C]), t32(c.b, [C]), rmT, rvT, { training: true, eps, momentum });
      return [out.toArray(), rmT.toArray(), rvT.toArray()];
    });
    assertClose(y, bnTrainRef(c.x, shape, c.w, c.b, eps), TOL, `train y ${shape}`);
    const r = runningUpdateRef(c.x, shape, c.rm, c.rv, momentum);
    assertClose(rm, r.rm, STAT_TOL, `running_mean ${shape}`);
    assertClose(rv, r.rv, STAT_TOL, `running_var ${shape}`);
  }
});

test('batchnorm2d training: per-channel output has mean b and biased std w·√(var/(var+eps))', () => {
  if (!on) return;
  const rng = new Rng(102);
  const shape = [4, 3, 5, 6];
  const c = make(rng, shape, 3);
  const y = tidy(() => batchnorm2d(t32(c.x, shape), t32(c.w, [3]), t32(c.b, [3]), t32(c.rm, [3]), t32(c.rv, [3]), { training: true }).toArray());
  const s = batchStats(Float64Array.from(y), shape);
  const xs = batchStats(c.x, shape);
  assertClose(s.mean, c.b, { atol: 1e-5, rtol: 0 }, 'mean of y');
  assertClose(s.varBiased, c.w.map((w, k) => (w * w * xs.varBiased[k]) / (xs.varBiased[k] + 1e-5)), { atol: 1e-5, rtol: 1e-4 }, 'var of y');
});

test('batchnorm2d eval: y = float64 reference, running stats untouched', () => {
  if (!on) return;
  const rng = new Rng(103);
  for (const { shape, eps, offset } of CASES) {
    const c = make(rng, shape, offset);
    const C = shape[1];
    const [y, rm, rv] = tidy(() => {
      const rmT = t32(c.rm, [C]), rvT = t32(c.rv, [C]);
      const out = batchnorm2d(t32(c.x, shape), t32(c.w, [C]), t32(c.b, [C]), rmT, rvT, { training: false, eps });
      return [out.toArray(), rmT.toArray(), rvT.toArray()];
    });
    assertClose(y, bnEvalRef(c.x, shape, c.w, c.b, c.rm, c.rv, eps), TOL, `eval y ${shape}`);
    assert.equal(Array.from(rm), Array.from(c.rm), 'running_mean unchanged');
    assert.equal(Array.from(rv), Array.from(c.rv), 'running_var unchanged');
  }
});

test('batchnorm2d eval on an empty input (H = 0) returns an empty output', () => {
  if (!on) return;
  tidy(() => {
    const one = () => t32([1, 1, 1], [3]);
    const y = batchnorm2d(t32([], [2, 3, 0, 4]), one(), one(), one(), one(), { training: false });
    assert.equal(y.shape, [2, 3, 0, 4]);
  });
});

test('batchnorm2d training vjp (x, weight, bias through the batch statistics) = finite differences', () => {
  if (!on) return;
  const rng = new Rng(104);
  for (const { shape, eps, offset } of CASES.slice(0, 6)) {
    const c = make(rng, shape, offset);
    const C = shape[1];
    gradcheck({
      label: `bn train ${shape}`, rng, samples: 40,
      // large offsets leave the float32 centring with a relative error ~ offset·2⁻²⁴/std
      tol: { atol: offset ? 5e-3 : 1e-3, rtol: 1e-2 },
      inputs: [{ data: c.x, shape }, { data: c.w, shape: [C] }, { data: c.b, shape: [C] }],
      engine: ([x, w, b]) => batchnorm2d(x, w, b, t32(c.rm, [C]), t32(c.rv, [C]), { training: true, eps }),
      ref: ([x, w, b]) => bnTrainRef(x, shape, w, b, eps),
    });
  }
});

test('batchnorm2d training backward: dx, dweight, dbias = the float64 closed form', () => {
  if (!on) return;
  const rng = new Rng(106);
  for (const { shape, eps, offset } of [...CASES, { shape: [4, 5, 16, 16], eps: 1e-5, offset: 0 }, { shape: [2, 3, 17, 19], eps: 1e-5, offset: 3 }]) {
    const c = make(rng, shape, offset);
    const C = shape[1];
    const dy = f32(rng.array(numel(shape)));
    const [dx, dw, db] = tidy(() => {
      const xT = t32(c.x, shape), wT = t32(c.w, [C]), bT = t32(c.b, [C]);
      for (const t of [xT, wT, bT]) t.requiresGrad = true;
      backward(batchnorm2d(xT, wT, bT, t32(c.rm, [C]), t32(c.rv, [C]), { training: true, eps }), { grad: t32(dy, shape) });
      return [xT, wT, bT].map((t) => Float64Array.from(t.grad!.toArray()));
    });
    const ref = bnTrainBwdRef(c.x, shape, dy, c.w, eps);
    // a large offset leaves x − mean with float32's relative error offset·2⁻²⁴/std
    const tol = { atol: offset ? 2e-4 : 2e-5, rtol: 1e-4 };
    assertClose(dx, ref.dx, tol, `${shape} dx`);
    assertClose(dw, ref.dw, { atol: 1e-4, rtol: 1e-4 }, `${shape} dweight`);
    assertClose(db, ref.db, { atol: 1e-4, rtol: 1e-4 }, `${shape} dbias`);
  }
});

test('batchnorm2d training: the variance of a channel whose mean falls between two floats', () => {
  if (!on) return;
  // half the values 8192, half 8192 + u (u = 2⁻¹⁰, float32's spacing there): the mean
  // 8192 + u/2 is no float32 and the biased variance is (u/2)²; eps is small beside it
  const u = 2 ** -10, shape = [2, 1, 4, 8], M = numel(shape);
  const x = Float64Array.from({ length: M }, (_, i) => 8192 + (i % 2) * u);
  const [y, rv] = tidy(() => {
    const rvT = t32([1], [1]);
    const yT = batchnorm2d(t32(x, shape), t32([1], [1]), t32([0], [1]), t32([0], [1]), rvT, { training: true, eps: 1e-12, momentum: 1 });
    return [Float64Array.from(yT.toArray()), rvT.toArray()[0]];
  });
  assertClose([rv], [((u / 2) ** 2 * M) / (M - 1)], { atol: 0, rtol: 1e-6 }, 'running_var (unbiased)');
  assertClose(y, x.map((v) => (v - 8192 - u / 2) / Math.sqrt((u / 2) ** 2 + 1e-12)), { atol: 1e-5, rtol: 1e-5 }, 'y = ±1');
});

test('batchnorm2d training: a channel of large mean and small spread keeps y (it was a·x + b\', two terms near ±3e5 cancelling: 7e-3 off)', () => {
  if (!on) return;
  // means 1000 and −300 with spreads 0.01 and 0.05, 24 values a channel (a deep layer's 2×2 maps
  // at batch 6); the error was 7e-3 (torch's float32 kernel: 8e-4), now that of one rounding
  const rng = new Rng(107), shape = [6, 2, 2, 2], C = 2;
  const x = f32(Float64Array.from({ length: numel(shape) }, (_, i) => (Math.floor(i / 4) % 2 ? -300 + rng.uniform(-0.05, 0.05) : 1000 + rng.uniform(-0.005, 0.005))));
  const w = f32([1.3, 0.7]), b = f32([0.25, -0.5]);
  for (const act of ['none', 'relu'] as const) {
    const y = tidy(() => {
      const xs = t32(x, shape), ws = t32(w, [C]), bs = t32(b, [C]), rm = t32([0, 0], [C]), rv = t32([1, 1], [C]);
      return (act === 'none' ? batchnorm2d(xs, ws, bs, rm, rv, { training: true }) : batchnormAct(xs, ws, bs, rm, rv, { act })).toArray();
    });
    const ref = bnTrainRef(x, shape, w, b, 1e-5).map((v) => (act === 'relu' ? Math.max(v, 0) : v));
    assertClose(y, ref, { atol: 2e-5, rtol: 1e-5 }, `y, act ${act}`);
  }
});

test('batchnorm2d eval vjp (x, weight, bias with running statistics fixed) = finite differences', () => {
  if (!on) return;
  const rng = new Rng(105);
  for (const { shape, eps, offset } of CASES.slice(0, 6)) {
    const c = make(rng, shape, offset);
    const C = shape[1];
    gradcheck({
      label: `bn eval ${shape}`, rng, samples: 32,
      tol: { atol: offset ? 5e-3 : 1e-3, rtol: 1e-2 },
      inputs: [{ data: c.x, shape }, { data: c.w, shape: [C] }, { data: c.b, shape: [C] }],
      engine: ([x, w, b]) => batchnorm2d(x, w, b, t32(c.rm, [C]), t32(c.rv, [C]), { training: false, eps }),
      ref: ([x, w, b]) => bnEvalRef(x, shape, w, b, c.rm, c.rv, eps),
    });
  }
});

test('batchnorm2d: no tensor outlives a tidy step (forward + backward, both modes)', () => {
  if (!on) return;
  const rng = new Rng(106);
  const shape = [2, 3, 4, 4];
  const c = make(rng, shape, 0);
  for (const training of [true, false]) {
    assertNoLeak(`bn ${training ? 'train' : 'eval'}`, () => {
      tidy(() => {
        const x = t32(c.x, shape);
        const w = t32(c.w, [3]);
        x.requiresGrad = w.requiresGrad = true;
        const y = batchnorm2d(x, w, t32(c.b, [3]), t32(c.rm, [3]), t32(c.rv, [3]), { training });
        backward(y, { grad: t32(new Float64Array(y.size).fill(1), shape) });
        x.grad!.dispose();
        w.grad!.dispose();
      });
    });
  }
});


test('batchnorm2d: bad inputs give MdmtError naming the op and the argument', () => {
  if (!on) return;
  tidy(() => {
    const x = t32(new Float64Array(2 * 3 * 4), [2, 3, 2, 2]);
    const p = () => t32([1, 1, 1], [3]);
    expectError(() => batchnorm2d(x, t32([1, 1], [2]), p(), p(), p(), { training: true }), 'ESHAPE', 'batchnorm2d', /'weight'.*\[3\]/, 'weight shape');
    expectError(() => batchnorm2d(t32([1, 2, 3], [3]), p(), p(), p(), p(), { training: true }), 'ESHAPE', 'batchnorm2d', /'x'/, 'rank 1 x');
    const d = p();
    d.dispose();
    expectError(() => batchnorm2d(x, p(), p(), p(), d, { training: true }), 'EDISPOSED', 'batchnorm2d', /'runningVar'/, 'disposed running_var');
    expectError(() => batchnorm2d(x, p(), p(), p(), p(), { training: true, eps: 0 }), 'EINVAL', 'batchnorm2d', /'eps'/, 'eps 0');
    expectError(() => batchnorm2d(x, p(), p(), p(), p(), { training: true, momentum: 2 }), 'EINVAL', 'batchnorm2d', /'momentum'/, 'momentum 2');
    expectError(() => batchnorm2d(t32([1, 2, 3], [1, 3]), p(), p(), p(), p(), { training: true }), 'EINVAL', 'batchnorm2d', /more than 1 value/, '1 value per channel');
    expectError(() => batchnorm2d(x, p(), p(), p(), p(), {} as never), 'EINVAL', 'batchnorm2d', /training/, 'no training flag');
    expectError(() => batchnorm2d(x, p(), p(), p(), p(), { training: true, moment: 0.5 } as never), 'EINVAL', 'batchnorm2d', /unknown option 'moment'.*did you mean momentum\?/, 'typo');
    // the kernels validate on their own too (called without the TS layer)
    const run = (op: string, ins: Tensor[], outs: Tensor[], attrs = {}) => () => {
      try {
        native().run(op, ins.map((t) => t.id), outs.map((t) => t.id), attrs);
      } catch (e) {
        throw MdmtError.fromNative(e);
      }
    };
    const y = t32(new Float64Array(24), [2, 3, 2, 2]);
    expectError(run('batchnorm_train', [x, p(), p()], [y, p(), p(), p(), t32([1, 1], [2])], { eps: 1e-5, momentum: 0.1 }),
      'ESHAPE', 'batchnorm_train', /running_var/, 'native running_var shape');
    expectError(run('batchnorm_eval', [x, p(), p(), p(), p()], [y], { eps: -1 }), 'EINVAL', 'batchnorm_eval', /eps/, 'native eps');
    expectError(run('batchnorm_bwd', [t32(new Float64Array(12), [2, 3, 2, 1]), x, p(), p(), p()], [y, p(), p()]), 'ESHAPE', 'batchnorm_bwd', /dy/, 'native dy shape');
  });
});

// the channel sums are compiled per ISA (native/cpu/batchnorm.cc)
rerunUnderIsaCaps(__filename, 'batchnorm');

test.run();
