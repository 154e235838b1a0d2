/**
 * The inference plan's epilogue fusion (compileInference → conv2d_act): which chains fuse
 * (conv → [add] → [act], the residual computed after the conv included), that nothing
 * else changes, and that the fused plan computes the eager forward. The zoo suite checks
 * every model's plan against its forward; here the counts are pinned on two small ones.
 * And a plan never runs on stale snapshots (folded BatchNorm, Winograd weights): after
 * loadStateDict, eager optimiser steps, replayed compiled training steps or a replaced
 * parameter, the next run records again and equals the eager forward of the model as it is.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward, noGrad } from '../../ts/autograd/tape';
import { compileInference } from '../../ts/models/inference';
import { MDMTModel } from '../../ts/models/mdmt';
import { getModel } from '../../ts/models/zoo';
import { mean } from '../../ts/ops/reduce';
import { Adam } from '../../ts/optim/adam';
import { compileStep } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { keep, tensor, Tensor, tidy } from '../../ts/tensor';
import { DEVICE } from '../helpers';
import { images, randomizeBatchNorm } from './util';

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
      // batch 2 is recorded by its first run, which is the eager forward under the recorder:
      // the comparison below is of the second run, a replay
      tidy(() => p.run(x));
      const got = tidy(() => (p.run(x) as Tensor).toArray());
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

test('a plan follows the model: loaded weights, optimiser steps (eager and replayed) and replaced tensors re-record it', () => {
  if (!on) return;
  manualSeed(5);
  const m = getModel('resnet18', { withClassifier: false }).eval();
  const x = tensor(Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.cos(i * 0.03)), [1, 3, 32, 32]);
  const xt = tensor(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.07)), [2, 3, 32, 32]); // training batch
  const plan = compileInference(m, { inputShape: [1, 3, 32, 32] });
  const opt = new Adam(m.parameters(), { lr: 1e-4 });
  const trainStep = ([b]: Tensor[]) => {
    const l = mean(m.forward(b) as Tensor);
    backward(l);
    opt.step();
    opt.zeroGrad();
    return [l];
  };
  const compiled = compileStep(trainStep);
  let prev: ArrayLike<number> | undefined;
  /** plan = eager forward now, after `recordings` recordings; and the change made the output move (else the check proves nothing) */
  const agrees = (what: string, recordings: number, changed = true) => {
    const want = tidy(() => noGrad(() => (m.forward(x) as Tensor).toArray()));
    const got = tidy(() => (plan.run(x) as Tensor).toArray());
    // a run that re-recorded returned the eager forward; the one after it replays the new recording
    const replayed = tidy(() => (plan.run(x) as Tensor).toArray());
    let scale = 0, err = 0, moved = 0;
    for (let i = 0; i < want.length; i++) {
      scale = Math.max(scale, Math.abs(want[i]));
      err = Math.max(err, Math.abs(want[i] - got[i]), Math.abs(want[i] - replayed[i]));
      if (prev) moved = Math.max(moved, Math.abs(want[i] - prev[i]));
    }
    assert.ok(scale > 0, `${what}: a non-zero output`);
    assert.ok(err <= 1e-5 * scale, `${what}: plan max|Δ| ${err} > 1e-5 · ${scale} (stale snapshot?)`);
    if (prev && changed) assert.ok(moved > 1e-3 * scale, `${what}: the output moved only ${moved} (scale ${scale})`);
    assert.is(plan.recordings, recordings, `${what}: recordings`);
    prev = got;
  };
  try {
    assert.ok(plan.foldedBatchNorms > 0, 'the plan folds BatchNorm (a snapshot of the weights)');
    agrees('as compiled', 1);
    agrees('unchanged model', 1, false);
    // new weights through loadStateDict: every float tensor (weights, BN statistics) scaled by 1 ± 10 %
    const jitter = (t: Tensor) => (t.dtype === 'float32' ? Float32Array.from(t.toArray(), (v, i) => v * (1 + 0.1 * Math.sin(i + 1))) : t.toArray());
    const sd = new Map([...m.stateDict()].map(([k, t]) => [k, keep(tensor(jitter(t), t.shape, { dtype: t.dtype }))]));
    m.loadStateDict(sd);
    for (const t of sd.values()) t.dispose();
    agrees('after loadStateDict', 2);
    // eager training steps (train mode: BN running statistics move too)
    m.train();
    for (let k = 0; k < 2; k++) tidy(() => trainStep([xt]));
    m.eval();
    agrees('after eager Adam steps', 3);
    // a compiled training step: its recording runs the ops eagerly; its replays run natively
    // (no runOpInto in JS), so only the replayed step effects mark the parameters written
    m.train();
    tidy(() => compiled.run([xt]));
    m.eval();
    agrees('after the recorded training step', 4);
    m.train();
    for (let k = 0; k < 2; k++) tidy(() => compiled.run([xt]));
    m.eval();
    assert.is(compiled.recordings, 1, 'the training step replays');
    agrees('after replayed training steps', 5);
    // one parameter loaded alone (strict: false)
    const [name, w] = [...m.namedParameters()][0];
    const u = keep(tensor(Float32Array.from(w.toArray(), (v) => 2 * v), w.shape));
    m.loadStateDict(new Map([[name, u]]), { strict: false });
    u.dispose();
    agrees('after a partial load', 6);
  } finally {
    compiled.dispose();
    plan.dispose();
    x.dispose();
    xt.dispose();
    m.dispose();
  }
});

test('compileInference refuses unknown and wrong options under its own name (inputshape fell back to 224×224)', () => {
  const m = getModel('resnet18', { withClassifier: false });
  const bad = (o: object, re: RegExp) => assert.throws(() => compileInference(m, o as never), (e: Error & { code?: string; op?: string }) => e.code === 'EINVAL' && e.op === 'compileInference' && re.test(e.message), re.source);
  bad({ inputshape: [1, 3, 32, 32] }, /unknown option 'inputshape' \(it would be ignored\); did you mean inputShape\?/);
  bad({ maxPlans: 0 }, /^compileInference: maxPlans must be a positive integer, got 0/);
  bad({ inputShape: '1,3,32,32' }, /inputShape must be 4 positive integers, got "1,3,32,32"/);
  bad({ foldBatchNorm: 'no' }, /'foldBatchNorm' must be a boolean, got "no"/);
  assert.throws(() => compileInference({ forward: (x: unknown) => x } as never), /compileInference: needs a Module, got an Object/);
  // an input no machine can hold (844 TB): the native allocator's ENOMEM naming the shape, not
  // the RangeError of a JS Float32Array of that length
  assert.throws(() => compileInference(m, { inputShape: [2 ** 20, 3, 4096, 4096] }),
    (e: Error & { code?: string }) => e.code === 'ENOMEM' && e.message.includes('shape [1048576, 3, 4096, 4096]'), 'a huge inputShape is an ENOMEM naming it');
  m.dispose();
});

// The zoo suite compares plans with the forward at 64×64 only, where every map is a power of
// two. Odd, non-square inputs at batch 3 (traced at batch 1) give the pre-transformed
// Winograd convs partial tiles — resnet18 at 67×81: F(4,3) on 17×21 maps, F(2,3) on 9×11 —
// and odd maps to the depthwise, ceil-mode pool, channel-shuffle and squeeze-excite steps,
// with BatchNorm statistics that make folding change the weights. A sweep of all backbones
// at such sizes found the plans right; this keeps five of them so. profile() (no argument)
// reads the steps the plan ran.
test('plans at odd, non-square sizes and batch 3 = the eager forward (partial Winograd tiles, BatchNorm randomized)', () => {
  if (!on) return;
  const shape = [3, 3, 67, 81];
  const x = tensor(images(shape, 5), shape);
  for (const name of ['resnet18', 'mobilenet_v2', 'googlenet', 'shufflenet_v2_x0_5', 'efficientnet_b0']) {
    manualSeed(4);
    const m = getModel(name, { withClassifier: false });
    randomizeBatchNorm(m);
    m.eval();
    const plan = compileInference(m, { inputShape: [1, 3, 67, 81] });
    try {
      const ref = tidy(() => noGrad(() => m.forward(x).toArray()));
      tidy(() => plan.run(x)); // records batch 3
      plan.profile(true);
      const got = tidy(() => (plan.run(x) as Tensor).toArray());
      const winograd = plan.profile().filter((s) => s.attrs.winograd !== undefined).map((s) => `F(${s.attrs.winograd},3) ${s.output.slice(2).join('x')}`);
      if (name === 'resnet18') for (const want of ['F(4,3) 17x21', 'F(2,3) 9x11']) assert.ok(winograd.includes(want), `resnet18: a ${want} step (got ${[...new Set(winograd)]})`);
      let scale = 0, err = 0;
      for (let i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]));
        err = Math.max(err, Math.abs(ref[i] - got[i]));
      }
      assert.ok(err <= 1e-5 * scale, `${name} at ${shape}: plan max|Δ| ${err} > 1e-5 · ${scale}`);
    } finally {
      plan.dispose();
      m.dispose();
    }
  }
  x.dispose();
});

test('stateTensors (the per-run staleness check) lists exactly the stateDict tensors, in order', () => {
  if (!on) return;
  manualSeed(5);
  for (const name of ['resnet18', 'mobilenet_v2']) {
    const m = getModel(name, { withClassifier: false });
    const fast = m.stateTensors(), full = [...m.stateDict().values()];
    assert.is(fast.length, full.length, name);
    assert.ok(fast.every((t, i) => t === full[i]), `${name}: same tensors in the same order`);
    m.dispose();
  }
});

test('run() is typed as the model\'s forward: a Tensor for a backbone, { afc, bx } for MDMTModel, without a cast', () => {
  // `plan.run(x)` was Tensor | Record<string, Tensor> for every model: a consumer had to cast
  // (`plan.run(x) as Tensor`, as the JSDoc example did) before calling toArray() or reading .afc
  manualSeed(0);
  const x = tensor(new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]);
  const backbone = compileInference(getModel('shufflenet_v2_x0_5', { withClassifier: false }).eval(), { inputShape: [1, 3, 32, 32] });
  const y: Tensor = backbone.run(x);
  assert.equal(y.shape, [1, 1024]);
  const mdmt = compileInference(new MDMTModel('shufflenet_v2_x0_5').eval(), { inputShape: [1, 3, 32, 32] });
  const { afc, bx } = mdmt.run(x);
  assert.equal([afc.shape, bx.shape], [[1, 2], [1, 4]]);
  for (const t of [x, y, afc, bx]) t.dispose();
  backbone.dispose();
  mdmt.dispose();
});

test.run();
