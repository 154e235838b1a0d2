/**
 * One MDMTModel training step (forward through the shared backbone and both heads, the two
 * indicator-masked cross-entropies, backward) on the GPU against the same step on the CPU:
 * same weights, same batch, same dropout masks (Philox, same seed stream).
 * Tolerances: loss relative 1e-4; each parameter gradient relative L2 error
 * ‖g_cuda − g_cpu‖ / ‖g_cpu‖ ≤ 2e-3 in strict fp32 (MDMT_TF32=0; different summation
 * orders through a deep network), ≤ 5e-2 with TF32 convolutions and GEMMs.
 * MDMT_STEP_MODELS=a,b overrides the list; MDMT_STEP_SIZE the image side (default 64).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { MDMTModel } from '../../ts/models';
import { add } from '../../ts/ops/add';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Tensor, tensor, tidy } from '../../ts/tensor';
import { CUDA_DEVICE, cudaSkipReason, rand } from './_cuda';

const skip = cudaSkipReason();
const TF32 = process.env.MDMT_TF32 !== '0';
const GRAD_TOL = TF32 ? 5e-2 : 2e-3;
const MODELS = (process.env.MDMT_STEP_MODELS || 'resnet18,densenet121,mobilenet_v2,efficientnet_b0,shufflenet_v2_x1_0').split(',');
const N = 8, S = Number(process.env.MDMT_STEP_SIZE || 64);

interface StepResult { loss: number; grads: Map<string, Float32Array> }

function step(model: MDMTModel, device: string): StepResult {
  const x = rand(11, N * 3 * S * S, -2, 2);
  const isAfc = Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const afcY = isAfc.map((m, i) => (m ? i % 2 : -1));
  const bxY = isAfc.map((m, i) => (m ? -1 : i % 4));
  setDropoutSeed(1234);
  return tidy(() => {
    const xt = tensor(Float32Array.from(x), [N, 3, S, S], { device });
    const { afc, bx } = model.forward(xt);
    const mA = tensor(Float32Array.from(isAfc), [N], { device });
    const mB = tensor(Float32Array.from(isAfc.map((m) => 1 - m)), [N], { device });
    const lA = tensor(Int32Array.from(afcY), [N], { dtype: 'int32', device });
    const lB = tensor(Int32Array.from(bxY), [N], { dtype: 'int32', device });
    const loss: Tensor = add(maskedXent(afc, lA, mA), maskedXent(bx, lB, mB));
    backward(loss);
    const grads = new Map<string, Float32Array>();
    for (const [name, p] of model.namedParameters()) {
      if (p.grad) grads.set(name, Float32Array.from(p.grad.toArray() as Float32Array));
      p.grad?.dispose();
      p.grad = null;
    }
    return { loss: loss.item(), grads };
  });
}

function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}

if (skip) {
  test('MDMT step cuda = cpu', () => console.log(`  [skip] MDMT step cuda = cpu: ${skip}`));
} else {
  for (const name of MODELS) {
    test(`${name}: one MDMT training step on cuda matches cpu`, () => {
      const model = new MDMTModel(name);
      model.train();
      const t0 = Date.now();
      const cpu = step(model, 'cpu');
      const t1 = Date.now();
      model.to(CUDA_DEVICE);
      const gpu = step(model, CUDA_DEVICE);
      const t2 = Date.now();
      model.dispose();
      assert.ok(Number.isFinite(cpu.loss) && cpu.loss > 0, `cpu loss ${cpu.loss}`);
      const lossErr = Math.abs(gpu.loss - cpu.loss) / Math.abs(cpu.loss);
      assert.ok(lossErr <= 1e-4, `${name}: loss cuda ${gpu.loss} vs cpu ${cpu.loss} (rel ${lossErr.toExponential(2)})`);
      assert.is(gpu.grads.size, cpu.grads.size, 'parameters with a gradient');
      let worst = 0, worstName = '';
      for (const [k, g] of cpu.grads) {
        const h = gpu.grads.get(k);
        assert.ok(h, `${k}: no gradient on cuda`);
        const e = relErr(h!, g);
        if (!(e <= worst)) { worst = e; worstName = k; }
      }
      console.log(`  ${name}: loss ${cpu.loss.toFixed(6)} (cuda rel err ${lossErr.toExponential(2)}), ${cpu.grads.size} grads, worst rel L2 ${worst.toExponential(2)} at ${worstName}; cpu ${t1 - t0} ms, cuda ${t2 - t1} ms`);
      assert.ok(worst <= GRAD_TOL, `${name}: gradient of ${worstName} differs by ${worst.toExponential(2)} (relative L2) > ${GRAD_TOL}`);
    });
  }
}

test.run();
