/**
 * The fused BatchNorm ops (docs/ops.md "normalisation"): batchnorm_act_train = act(bn(x) [+ r])
 * and batchnorm_act_bwd, through batchnormAct. Forward against the float64 reference
 * (test/ref/batchnorm.ts) and against the unfused ops on the same inputs (bit for bit: the
 * kernels keep the unfused order of operations); the vjp (x, weight, bias, residual) against
 * central differences of the reference; the running statistics as batchnorm2d's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { add } from '../../ts/ops/elementwise';
import { batchnorm2d, batchnormAct } from '../../ts/ops/batchnorm';
import { relu, relu6 } from '../../ts/ops/activations';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, assertNoLeak, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { bnActTrainRef, bnTrainBwdRef, runningUpdateRef } from '../ref/batchnorm';
import { rerunUnderIsaCaps } from './_isa';

const TOL = { atol: 2e-5, rtol: 1e-4 };
const on = deviceAvailable('batchnorm_act');
const SHAPES = [[2, 3, 4, 5], [1, 4, 3, 7], [5, 6], [16, 2, 33, 31], [3, 8, 1, 1]];
type Act = 'relu' | 'relu6';

function make(rng: Rng, shape: number[]) {
  const C = shape[1];
  // a spread of 4 puts relu6's upper clamp in play
  return {
    x: f32(rng.array(numel(shape), -4, 4)), r: f32(rng.array(numel(shape), -2, 2)),
    w: f32(rng.array(C, 0.5, 3)), b: f32(rng.array(C, -0.5, 2)), rm: f32(rng.array(C, -0.2, 0.2)), rv: f32(rng.array(C, 0.5, 2)),
  };
}

/** The unfused composition: batchnorm2d, add, activation. */
function unfused(x: Tensor, w: Tensor, b: Tensor, rm: Tensor, rv: Tensor, act: Act, r?: Tensor): Tensor {
  const z = batchnorm2d(x, w, b, rm, rv, { training: true });
  const s = r ? add(z, r) : z;
  return act === 'relu' ? relu(s) : relu6(s);
}

test('batchnorm_act_train: y = float64 reference, = the unfused ops bit for bit; running statistics updated', () => {
  if (!on) return;
  const rng = new Rng(201);
  for (const shape of SHAPES)
    for (const act of ['relu', 'relu6'] as Act[])
      for (const withR of [false, true]) {
        const c = make(rng, shape);
        const C = shape[1];
        const [y, y2, rm, rv] = tidy(() => {
          const rmT = t32(c.rm, [C]), rvT = t32(c.rv, [C]);
          const xT = t32(c.x, shape), wT = t32(c.w, [C]), bT = t32(c.b, [C]), rT = withR ? t32(c.r, shape) : undefined;
          const fused = batchnormAct(xT, wT, bT, rmT, rvT, { act, residual: rT });
          const plain = unfused(xT, wT, bT, t32(c.rm, [C]), t32(c.rv, [C]), act, rT);
          return [fused.toArray(), plain.toArray(), rmT.toArray(), rvT.toArray()];
        });
        const label = `${act}${withR ? '+residual' : ''} ${shape}`;
        assertClose(y, bnActTrainRef(c.x, shape, c.w, c.b, 1e-5, act, withR ? c.r : undefined), TOL, label);
        assert.equal([...y], [...y2], `${label}: fused = unfused`);
        const ref = runningUpdateRef(c.x, shape, c.rm, c.rv, 0.1);
        assertClose(rm, ref.rm, { atol: 1e-6, rtol: 1e-5 }, `${label} running_mean`);
        assertClose(rv, ref.rv, { atol: 1e-6, rtol: 1e-5 }, `${label} running_var`);
      }
});

test('batchnorm_act_bwd: gradients = the unfused ops bit for bit', () => {
  if (!on) return;
  const rng = new Rng(202);
  for (const shape of SHAPES)
    for (const act of ['relu', 'relu6'] as Act[])
      for (const withR of [false, true]) {
        const c = make(rng, shape);
        const C = shape[1];
        const dy = rng.array(numel(shape));
        const grads = (fused: boolean) => tidy(() => {
          const xT = t32(c.x, shape), wT = t32(c.w, [C]), bT = t32(c.b, [C]), rT = withR ? t32(c.r, shape) : undefined;
          for (const t of [xT, wT, bT, rT]) if (t) t.requiresGrad = true;
          const y = fused ? batchnormAct(xT, wT, bT, t32(c.rm, [C]), t32(c.rv, [C]), { act, residual: rT }) : unfused(xT, wT, bT, t32(c.rm, [C]), t32(c.rv, [C]), act, rT);
          backward(y, { grad: t32(dy, shape) });
          const g = [xT, wT, bT, rT].filter((t): t is Tensor => !!t).map((t) => [...t.grad!.toArray()]);
          for (const t of [xT, wT, bT, rT]) t?.grad?.dispose();
          return g;
        });
        assert.equal(grads(true), grads(false), `${act}${withR ? '+residual' : ''} ${shape}: fused gradients = unfused`);
      }
});

test('batchnorm_act_bwd: dx, dweight, dbias and the residual gradient = the float64 closed form', () => {
  if (!on) return;
  const rng = new Rng(205);
  // runs (H·W) shorter than one 16-lane vector, a whole 256-element block, blocks with tails
  for (const shape of [[2, 3, 4, 5], [4, 5, 16, 16], [2, 3, 17, 19], [16, 2, 33, 31], [3, 8, 1, 1]])
    for (const act of ['relu', 'relu6'] as Act[])
      for (const withR of [false, true]) {
        const c = make(rng, shape);
        const C = shape[1];
        const dy = f32(rng.array(numel(shape)));
        const [y, dx, dw, db, dr] = tidy(() => {
          const xT = t32(c.x, shape), wT = t32(c.w, [C]), bT = t32(c.b, [C]), rT = withR ? t32(c.r, shape) : undefined;
          for (const t of [xT, wT, bT, rT]) if (t) t.requiresGrad = true;
          const yT = batchnormAct(xT, wT, bT, t32(c.rm, [C]), t32(c.rv, [C]), { act, residual: rT });
          backward(yT, { grad: t32(dy, shape) });
          return [yT, xT.grad!, wT.grad!, bT.grad!, rT?.grad].map((t) => (t ? Float64Array.from(t.toArray()) : undefined));
        });
        const ref = bnTrainBwdRef(c.x, shape, dy, c.w, 1e-5, { act, y: y! });
        const label = `${act}${withR ? '+residual' : ''} ${shape}`;
        assertClose(dx!, ref.dx, { atol: 2e-5, rtol: 1e-4 }, `${label} dx`);
        assertClose(dw!, ref.dw, { atol: 1e-4, rtol: 1e-4 }, `${label} dweight`);
        assertClose(db!, ref.db, { atol: 1e-4, rtol: 1e-4 }, `${label} dbias`);
        if (withR) assertClose(dr!, ref.g, { atol: 0, rtol: 0 }, `${label} dresidual`);
      }
});

test('batchnormAct vjp (x, weight, bias, residual) = finite differences of the float64 reference', () => {
  if (!on) return;
  const rng = new Rng(203);
  for (const shape of SHAPES.slice(0, 3))
    for (const act of ['relu', 'relu6'] as Act[]) {
      const c = make(rng, shape);
      const C = shape[1];
      gradcheck({
        label: `bn ${act} ${shape}`, rng, samples: 32, tol: { atol: 1e-3, rtol: 1e-2 },
        inputs: [{ data: c.x, shape }, { data: c.w, shape: [C] }, { data: c.b, shape: [C] }, { data: c.r, shape }],
        engine: ([x, w, b, r]) => batchnormAct(x, w, b, t32(c.rm, [C]), t32(c.rv, [C]), { act, residual: r }),
        ref: ([x, w, b, r]) => bnActTrainRef(x, shape, w, b, 1e-5, act, r),
      });
    }
});

test('batchnormAct: named errors, no leaks', () => {
  if (!on) return;
  const rng = new Rng(204);
  const c = make(rng, [2, 3, 4, 4]);
  const args = () => [t32(c.x, [2, 3, 4, 4]), t32(c.w, [3]), t32(c.b, [3]), t32(c.rm, [3]), t32(c.rv, [3])] as const;
  tidy(() => {
    assert.throws(() => batchnormAct(...args(), { act: 'silu' as Act }), /opts.act must be 'relu' or 'relu6'/);
    assert.throws(() => batchnormAct(...args(), { act: 'relu', residual: t32(c.w, [3]) }), /'residual' must have the shape of x \[2, 3, 4, 4\]/);
  });
  assertNoLeak('batchnormAct', () => tidy(() => {
    const [x, w, b, rm, rv] = args();
    x.requiresGrad = true;
    const y = batchnormAct(x, w, b, rm, rv, { act: 'relu', residual: t32(c.r, [2, 3, 4, 4]) });
    backward(y, { grad: t32(new Float64Array(y.size).fill(1), y.shape) });
    x.grad!.dispose();
  }));
});

// the channel sums are compiled per ISA (native/cpu/batchnorm.cc)
rerunUnderIsaCaps(__filename, 'batchnorm_act');

test.run();
