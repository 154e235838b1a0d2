/**
 * Issue 14's correctness criterion on the GPU: the bf16 + NHWC compiled MDMT step tracks the
 * fp32 eager step over 20 steps on resnet18, densenet121, mobilenet_v2, efficientnet_b0 and
 * shufflenet_v2_x1_0 — the same initial weights, batches and dropout masks; the loss of every
 * step within 2 % relative, and afterwards each weight tensor's distance from the fp32 run
 * at most half of how far the fp32 run moved it (Adam normalises every update, so an
 * element whose bf16 gradient changes sign moves by up to 2·lr the other way: the bound is
 * on whole tensors, relative to their own update). Prints per backbone the worst step's loss
 * error and the worst weight ratio (bench/gpu/mixed.sh collects the lines). The compiled
 * step records its first call eagerly in fp32, so step 0 agrees exactly. Batch 32 at 128².
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { compileStep } from '../../ts/plan/step';
import { tensor, tidy } from '../../ts/tensor';
import { batch, snapshot, trainee } from '../plan/_fixture';
import { CUDA_DEVICE, cudaSkipReason } from './_cuda';

const skip = cudaSkipReason() ?? (CUDA_DEVICE === 'cpu' ? 'bf16 needs a CUDA device (no CPU dry run)' : null);
const MODELS = (process.env.MDMT_CHECK_MODELS ?? 'resnet18 densenet121 mobilenet_v2 efficientnet_b0 shufflenet_v2_x1_0').split(/[ ,]+/).filter(Boolean);
const STEPS = 20, N = 32, S = 128;
const LOSS_RTOL = 0.02, WEIGHT_RATIO = 0.5;

const norm = (a: Float32Array, b?: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - (b ? b[i] : 0)) ** 2, 0));

if (skip) test('bf16 step tracks fp32', () => console.log(`  [skip] bf16 step vs fp32: ${skip}`));
else
  for (const name of MODELS) {
    test(`${name}: the bf16 + NHWC compiled step tracks the fp32 eager step over ${STEPS} steps`, () => {
      const ref = trainee(name, 0, CUDA_DEVICE), low = trainee(name, 0, CUDA_DEVICE);
      const init = snapshot(ref);
      const step = compileStep(low.step, { device: CUDA_DEVICE, precision: 'bf16' });
      let worst = 0;
      try {
        for (let k = 0; k < STEPS; k++) {
          const d = batch(k, N, S) as { data: Float32Array | Int32Array; shape: number[] }[];
          setDropoutSeed(k);
          const l0 = tidy(() => ref.step(d.map((x) => tensor(x.data, x.shape, { device: CUDA_DEVICE })))[0].item());
          setDropoutSeed(k);
          const l1 = step.run(d)[0].item();
          const err = Math.abs(l1 - l0) / Math.abs(l0);
          worst = Math.max(worst, err);
          assert.ok(err <= LOSS_RTOL, `step ${k}: loss fp32 ${l0} vs bf16 ${l1} (${(err * 100).toFixed(2)} %)`);
        }
        const a = snapshot(ref), c = snapshot(low);
        let ratio = 0, at = '';
        for (const [key, v] of a) {
          if (!key.endsWith('weight') || v.length < 2) continue;
          const moved = norm(v, init.get(key)!), off = norm(c.get(key)!, v);
          if (moved > 0 && off / moved > ratio) [ratio, at] = [off / moved, key];
        }
        console.log(`  ${name}: loss max rel err ${(worst * 100).toFixed(3)} %, weights max |bf16 − fp32| / |fp32 update| ${ratio.toFixed(3)} (${at})`);
        assert.ok(ratio <= WEIGHT_RATIO, `${at}: the bf16 run ended ${ratio.toFixed(3)}× its fp32 update away from the fp32 run`);
      } finally {
        step.dispose();
        ref.model.dispose();
        low.model.dispose();
      }
    });
  }

test.run();
