/**
 * The inference plan's epilogue fusion (compileInference → conv2d_act): which chains fuse
 * (conv → [add] → [act], the residual computed after the conv included), that nothing
 * else changes, and that the fused plan computes the eager forward. The zoo suite checks
 * every model's plan against its forward; here the counts are pinned on two small ones.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { compileInference } from '../../ts/models/inference';
import { getModel } from '../../ts/models/zoo';
import { manualSeed } from '../../ts/random';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { DEVICE } from '../helpers';

const SHAPE = [2, 3, 64, 64];
const on = DEVICE === 'cpu';

function check(name: string, fusedWant: number, absent: string[]): void {
  manualSeed(3);
  const m = getModel(name, { withClassifier: false }).eval();
  const x = tensor(Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.01)), SHAPE);
  const plan = compileInference(m, { inputShape: [1, 3, 64, 64] });
  const plain = compileInference(m, { inputShape: [1, 3, 64, 64], fuseEpilogues: false });
  try {
    assert.is(plan.ops.conv2d_act, fusedWant, `${name}: convs fused with their epilogue`);
    for (const op of absent) assert.is(plan.ops[op] ?? 0, 0, `${name}: no ${op} left`);
    assert.is(plain.ops.conv2d_act ?? 0, 0);
    assert.is(plain.ops.conv2d, plan.ops.conv2d + fusedWant, `${name}: the same convs, unfused`);
    const ref = tidy(() => noGrad(() => m.forward(x).toArray()));
    for (const p of [plan, plain]) {
      const got = tidy(() => (p.run(x) as Tensor).toArray());
      tidy(() => p.run(x));
      // the traced shape, then batch 2 — each recorded once: the plan's constants outlive the tidy they were made in
      assert.is(p.recordings, 2, `${name}: recorded once per batch size`);
      let scale = 0, err = 0;
      for (let i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]));
        err = Math.max(err, Math.abs(ref[i] - got[i]));
      }
      assert.ok(err <= 1e-5 * scale, `${name}: plan max|Δ| ${err} > 1e-5 · ${scale}`);
    }
  } finally {
    plan.dispose();
    plain.dispose();
    x.dispose();
    m.dispose();
  }
}

test('resnet18: every conv+BN(+add)+relu is one conv2d_act (downsample residuals included)', () => {
  if (on) check('resnet18', 17, ['relu', 'add', 'batchnorm_eval']);
});

test('mobilenet_v2: conv+BN+relu6 and conv+BN+add fuse; the linear bottleneck convs stay plain', () => {
  if (on) check('mobilenet_v2', 45, ['relu6', 'add', 'batchnorm_eval']);
});

test.run();
