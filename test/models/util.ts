/**
 * Helpers of the zoo tests: onnxruntime-node as the oracle (one CPU thread: CI has 2
 * cores), the output comparison with its stated tolerance, non-trivial BN statistics,
 * and one masked MDMT/STL training step with Adam that reports what changed.
 */
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { backward, noGrad } from '../../ts/autograd/tape';
import { MDMTModel, STLModel } from '../../ts/models/mdmt';
import { uniform } from '../../ts/nn/init';
import { BatchNorm2d } from '../../ts/nn/layers';
import { Module } from '../../ts/nn/module';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim/adam';
import { Generator } from '../../ts/random';
import { tensor, Tensor, tidy } from '../../ts/tensor';

/** mdmt vs onnxruntime: |a − e| ≤ TOL·max|e| + TOL·|e| (float32 summation-order noise is ~1e-6). */
export const ORT_TOL = 1e-4;

export async function runOrt(bytes: Uint8Array, input: Float32Array, shape: number[]): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const r = await s.run({ input: new ort.Tensor('float32', input, shape) });
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await s.release();
  }
}

export function assertCloseScaled(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, tol = ORT_TOL): void {
  assert.is(actual.length, expected.length, `${label}: ${actual.length} vs ${expected.length} values`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  assert.ok(Number.isFinite(scale) && scale > 0, `${label}: reference output is all zero or not finite`);
  let worst = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) - tol * Math.abs(expected[i]);
    if (!(err <= worst)) { worst = err; at = i; }
  }
  assert.ok(worst <= tol * scale, `${label}: [${at}] ${actual[at]} vs ${expected[at]} (|err| beyond ${tol}·max ${scale.toExponential(2)})`);
}

/** Deterministic test images in [-1, 1]. */
export function images(shape: number[], seed = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => g.uniform(-1, 1));
}

/** Random BN affine and running statistics, so that eval-mode BN is not the identity. */
export function randomizeBatchNorm(model: Module): void {
  const g = new Generator(7);
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    uniform(m.param('weight'), 0.5, 1.5, g);
    uniform(m.param('bias'), -0.2, 0.2, g);
    uniform(m.buffer('running_mean'), -0.2, 0.2, g);
    uniform(m.buffer('running_var'), 0.5, 1.5, g);
  }
}

export interface StepReport {
  /** parameters without a gradient, or with a non-finite one */
  badGrads: string[];
  /** parameters left unchanged by the step */
  unchanged: string[];
  /** the input received a finite, non-zero gradient */
  inputGrad: boolean;
}

/**
 * One training step on a batch of 2 mixing the datasets (sample 0 AFC, sample 1 BX): the
 * paper's loss maskedXent(afc) + maskedXent(bx) (STL: its own task's rows), backward,
 * Adam(lr 1e-3, wd 1e-4) step. Reports the gradients and which parameters changed.
 */
export function trainStep(model: MDMTModel | STLModel, x: Float32Array, shape: number[]): StepReport {
  model.train();
  const params = model.namedParameters();
  const before = params.map(([, t]) => t.toArray().slice());
  const opt = new Adam(params.map(([, t]) => t), { lr: 1e-3, weightDecay: 1e-4 });
  try {
    const inputGrad = tidy(() => {
      const xt = tensor(x, shape);
      xt.requiresGrad = true;
      const i32 = (a: number[]) => tensor(Int32Array.from(a), [2], { dtype: 'int32' });
      const f32 = (a: number[]) => tensor(Float32Array.from(a), [2]);
      let loss: Tensor;
      if (model instanceof MDMTModel) {
        const { afc, bx } = model.forward(xt);
        loss = add(maskedXent(afc, i32([1, -1]), f32([1, 0])), maskedXent(bx, i32([-1, 3]), f32([0, 1])));
      } else {
        loss = maskedXent(model.forward(xt), i32(model.task === 'afc' ? [1, 0] : [3, 1]), f32([1, 1]));
      }
      backward(loss);
      const g = xt.grad ? xt.grad.toArray() : null;
      xt.grad?.dispose();
      return !!g && g.every(Number.isFinite) && g.some((v) => v !== 0);
    });
    const badGrads = params.filter(([, t]) => !t.grad?.toArray().every(Number.isFinite)).map(([k]) => k);
    noGrad(() => opt.step());
    const unchanged = params.filter(([, t], i) => { const a = t.toArray(); return a.every((v, j) => v === before[i][j]); }).map(([k]) => k);
    return { badGrads, unchanged, inputGrad };
  } finally {
    opt.zeroGrad();
    opt.dispose();
  }
}
