/**
 * The evaluation plan of train() (EVAL_PASSES in ts/train/step.ts): BatchNorm folded by
 * steps of the plan (ts/plan/passes/fold_bn_live.ts), so one recorded plan keeps matching the
 * eager eval-mode forward while training changes the weights and running statistics between
 * evaluations — no re-recording, no stale snapshot. Checked on resnet18 (conv-BN with and
 * without residual) and mobilenet_v2 (relu6, depthwise) against the eager forward after each
 * of three eager training steps (tolerance 1e-4 of the logits' scale: the folded weights
 * round differently from BatchNorm applied after the conv), and for its structure: every
 * conv-BN pair gone, the epilogues fused, and the weights' reshaped views given no arena bytes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import type { Graph } from '../../ts/plan/graph';
import { compileStep } from '../../ts/plan/step';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { EVAL_PASSES } from '../../ts/train/step';
import { assertClose, DEVICE } from '../helpers';
import { batch, trainee } from './_fixture';

const on = DEVICE === 'cpu';
const count = (g: Graph, op: string) => g.steps.filter((s) => s.op === op).length;

for (const backbone of ['resnet18', 'mobilenet_v2']) {
  test(`${backbone}: the live-folded evaluation plan equals the eager eval forward across training steps, recorded once`, () => {
    if (!on) return;
    const t = trainee(backbone, 3);
    const heads = (x: Tensor) => {
      t.model.eval();
      try {
        const o = noGrad(() => t.model.forward(x));
        return [o.afc, o.bx];
      } finally {
        t.model.train();
      }
    };
    let recordedBn = 0;
    const ev = compileStep(([x]) => heads(x), { passes: EVAL_PASSES, onRecord: (g) => (recordedBn = count(g, 'batchnorm_eval')) });
    try {
      for (let k = 0; k < 3; k++) {
        const [img] = batch(10 + k, 2, 32) as { data: Float32Array; shape: number[] }[];
        const got = tidy(() => ev.run([img]).map((o) => o.toArray() as Float32Array));
        const want = tidy(() => heads(tensor(img.data, img.shape)).map((o) => o.toArray() as Float32Array));
        const scale = Math.max(...want.map((w) => Math.max(...w.map(Math.abs))));
        got.forEach((g, i) => assertClose(g, want[i], { atol: 1e-4 * scale, rtol: 1e-4 }, `${backbone} eval ${k} head ${i}`));
        // a training step changes weights, BatchNorm statistics and Adam state in place
        tidy(() => t.step(batch(k, 4, 32).map((d) => ('data' in d ? tensor(d.data, d.shape) : d))));
      }
      assert.is(ev.recordings, 1, 'one recording serves every evaluation');
      const g = ev.cached[0].graph;
      // each folded pair leaves two batchnorm_eval steps on weight-sized views (w' and b'); none on activations
      assert.ok(recordedBn > 0, 'the eager eval forward has BatchNorms');
      assert.is(count(g, 'batchnorm_eval'), 2 * recordedBn, 'every BatchNorm folded (all follow convs here)');
      const onActivations = g.steps.filter((s) => s.op === 'batchnorm_eval' && g.values.get(s.inputs[0])!.shape[0] !== 1);
      assert.is(onActivations.length, 0, 'every BatchNorm after a conv is folded');
      assert.ok(count(g, 'conv2d_act') > 0, 'the convs meet their activations once BatchNorm is gone');
      const views = g.steps.filter((s) => s.op === 'reshape' && ['param', 'const'].includes(g.values.get(s.inputs[0])!.kind));
      assert.ok(views.length > 0 && views.every((s) => g.values.get(s.outputs[0])!.offset === undefined), 'views of weights take no arena bytes');
    } finally {
      ev.dispose();
      t.opt.dispose();
      t.model.dispose();
    }
  });
}

test.run();
