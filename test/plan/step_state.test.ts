/**
 * A compiled step follows the JavaScript-side state its ops were chosen by: a model switched
 * to eval mode, a parameter frozen, a gradient left by an eager backward(), optimiser state
 * loaded with other per-parameter step counts, between runs. The first three replayed the
 * recorded ops silently (batch statistics and dropout in eval mode, an update of a frozen
 * weight, the left gradient ignored and leaked), the last failed every run with EPLAN; now
 * the step records again, and its steps equal the eager ones. Also SGD (lr per run, the
 * buffer-creating first step recorded apart) and a replay that fails on a bad label (Adam's
 * step count taken back, as the eager step never reached its update). Tiny convnets on 8×8 images.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward, noGrad } from '../../ts/autograd/tape';
import { compileInference } from '../../ts/models/inference';
import * as nn from '../../ts/nn';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam, SGD } from '../../ts/optim';
import { compileStep } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { keep, tensor, tidy, type Tensor } from '../../ts/tensor';
import { assertClose, DEVICE, Rng } from '../helpers';

const TOL = { atol: 1e-6, rtol: 1e-5 };
const N = 4;

/** A small net with BatchNorm and dropout, and Adam (or SGD with momentum) on it: the same weights every call. */
function make(sgd = false) {
  manualSeed(5);
  const net = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1, device: DEVICE }), new nn.BatchNorm2d(4, { device: DEVICE }), new nn.ReLU(),
    new nn.GlobalAvgPool2d(), new nn.Flatten(), new nn.Dropout(0.5), new nn.Linear(4, 3, { device: DEVICE }));
  return { net, opt: sgd ? new SGD(net.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }) : new Adam(net.parameters(), { lr: 1e-2 }) };
}
interface Trainee { net: nn.Sequential; opt: Adam | SGD }
const stepOf = (t: Trainee) => ([x, y, m]: Tensor[]) => {
  const l = maskedXent(t.net.forward(x), y, m);
  backward(l);
  t.opt.step();
  t.opt.zeroGrad();
  return [l];
};

/** Frees a step and its trainees. */
function release(step: { dispose(): void }, ...ts: Trainee[]): void {
  step.dispose();
  for (const t of ts) {
    t.opt.dispose();
    t.net.dispose();
  }
}

/** Batch k as tensors (kept: the caller disposes them); `bad`: row 1's label is out of range. */
function batch(k: number, bad = false): Tensor[] {
  const rng = new Rng(50 + k);
  return [
    tensor(Float32Array.from({ length: N * 3 * 64 }, () => rng.uniform(-2, 2)), [N, 3, 8, 8], { device: DEVICE }),
    tensor(Int32Array.from({ length: N }, (_, i) => (bad && i === 1 ? 7 : (i + k) % 3)), [N], { dtype: 'int32', device: DEVICE }),
    tensor(new Float32Array(N).fill(1), [N], { device: DEVICE }),
  ].map((t) => keep(t));
}

/**
 * Runs `steps` steps eagerly on one trainee and compiled on another, calling `between(k, t)`
 * on both before step k; step `bad` has a label out of range, which both must refuse.
 */
function compare(steps: number, between: (k: number, t: Trainee) => void, sgd = false, bad = -1): { recordings: number } {
  const eager = make(sgd), planned = make(sgd);
  const step = compileStep(stepOf(planned));
  try {
    for (let k = 0; k < steps; k++) {
      const ins = batch(k, k === bad);
      for (const t of [eager, planned]) between(k, t);
      const run = (f: () => number) => {
        setDropoutSeed(9 + k);
        if (k !== bad) return tidy(f);
        assert.throws(() => tidy(f), /labels/, `step ${k} refuses its label`);
        return 0;
      };
      const le = run(() => stepOf(eager)(ins)[0].item());
      const lp = run(() => step.run(ins)[0].item());
      assertClose([lp], [le], TOL, `loss of step ${k}`);
      for (const t of ins) t.dispose();
    }
    const [a, b] = [eager.net.stateDict(), planned.net.stateDict()];
    for (const [k, v] of a) assertClose(b.get(k)!.toArray(), v.toArray(), TOL, k);
    return { recordings: step.recordings };
  } finally {
    release(step, eager, planned);
  }
}

test('a model switched to eval mode between runs: the step records again (it replayed batch statistics and dropout)', () => {
  const r = compare(5, (k, t) => {
    if (k === 2) t.net.eval();
    if (k === 4) t.net.children()[1][1].train(); // the BatchNorm alone back in training mode
  });
  assert.is(r.recordings, 3, 'recorded at steps 0, 2 and 4');
});

test('a parameter frozen between runs: the step records again (it went on updating the weight)', () => {
  const r = compare(4, (k, t) => {
    if (k === 2) t.net.parameters()[0].requiresGrad = false;
  });
  assert.is(r.recordings, 2);
});

test('optimiser state loaded between runs with other per-parameter step counts: the step records again (each run failed with EPLAN after counting a BatchNorm batch)', () => {
  const r = compare(4, (k, t) => {
    if (k !== 2) return;
    const opt = t.opt as Adam, st = opt.stateDict();
    opt.loadStateDict({ ...st, steps: st.steps.map((n, i) => n + (i % 2) * 5) });
  });
  assert.is(r.recordings, 2);
});

test('a replay that fails on its batch (a label out of range) leaves Adam as the failed eager step does (its step count ran ahead: every later update differed)', () => {
  // the loss's kernel refuses the label in the forward: neither run leaves a gradient
  const r = compare(5, () => undefined, false, 3);
  assert.is(r.recordings, 1);
});

test('SGD with momentum under compileStep equals eager SGD, with the lr of each run (it was refused: first step and lr were attributes)', () => {
  const r = compare(5, (k, t) => {
    if (k === 3) t.opt.lr = 0.01;
  }, true);
  assert.is(r.recordings, 2, 'the step that creates the momentum buffers, then one that finds them');
  // a captured CUDA graph would keep SGD's lr: refused by name (cudaGraph on the CPU is refused before the step runs: step_edges)
  if (!DEVICE.startsWith('cuda')) return;
  const { net, opt } = make(true);
  const step = compileStep(stepOf({ net, opt }), { cudaGraph: true });
  const ins = batch(0);
  assert.throws(() => tidy(() => step.run(ins)), (e: Error & { code?: string }) => e.code === 'EPLAN' && /SGD's learning rate would stay the one captured in the CUDA graph/.test(e.message));
  release(step, { net, opt });
  for (const t of ins) t.dispose();
});

test('a gradient left by an eager backward() between runs is not ignored: that run is eager, a repeat is refused by name', () => {
  const eager = make(), planned = make();
  const step = compileStep(stepOf(planned));
  const extra = (t: Trainee, ins: Tensor[]) => tidy(() => backward(maskedXent(t.net.forward(ins[0]), ins[1], ins[2])));
  try {
    for (let k = 0; k < 3; k++) {
      const ins = batch(k);
      if (k === 2) for (const t of [eager, planned]) {
        setDropoutSeed(1);
        extra(t, ins);
      }
      setDropoutSeed(9 + k);
      const le = tidy(() => stepOf(eager)(ins)[0].item());
      setDropoutSeed(9 + k);
      const lp = tidy(() => step.run(ins)[0].item());
      assertClose([lp], [le], TOL, `loss of step ${k}`);
      assert.is(planned.net.parameters()[0].grad, null, `step ${k} consumed the gradient (the replay had left it, forever)`);
      for (const t of ins) t.dispose();
    }
    for (const [p, q] of eager.net.parameters().map((p, i) => [p, planned.net.parameters()[i]])) assertClose(q.toArray(), p.toArray(), TOL, 'parameters');
    const ins = batch(3);
    extra(planned, ins);
    assert.throws(() => tidy(() => step.run(ins)), (e: Error & { code?: string }) => e.code === 'EINVAL' && /frees tensors it did not create on every call .*most often gradients a backward\(\) outside the step left/.test(e.message));
    for (const t of ins) t.dispose();
  } finally {
    release(step, eager, planned);
  }
});

test('a training step run inside noGrad() refuses as the eager step does (the replay trained), and replays again outside', () => {
  const t = make();
  const step = compileStep(stepOf(t));
  const b = batch(0);
  setDropoutSeed(3);
  tidy(() => { step.run(b); step.run(b); });
  assert.is(step.recordings, 1);
  const w = tidy(() => t.net.parameters()[0].toArray());
  assert.throws(() => noGrad(() => step.run(b)), (e: Error & { code?: string }) => e.code === 'EINVAL' && /does not depend on any tensor that requires grad/.test(e.message));
  assert.equal(tidy(() => t.net.parameters()[0].toArray()), w, 'no update under noGrad');
  tidy(() => { step.run(b); step.run(b); });
  assert.is(step.recordings, 2, 'recorded again outside (the refused run made no plan)');
  b.forEach((x) => x.dispose());
  release(step, t);
});

test('modes the step sets itself are no dependency, and a replay sets them again', () => {
  manualSeed(2);
  const { net } = make();
  const x = keep(tensor(Float32Array.from({ length: 2 * 3 * 64 }, (_, i) => Math.sin(i)), [2, 3, 8, 8], { device: DEVICE }));
  try {
    // compileInference puts the model in eval mode inside its step and restores it: no recording per run
    const plan = compileInference(net, { inputShape: [2, 3, 8, 8] });
    for (let i = 0; i < 3; i++) tidy(() => plan.run(x));
    assert.is(plan.recordings, 1);
    assert.ok(net.training, 'the mode restored');
    plan.dispose();
    // a step that leaves the model in eval mode leaves it so on every replay, as its eager run did
    const step = compileStep(([a]) => {
      net.eval();
      return [net.forward(a)];
    });
    for (let i = 0; i < 3; i++) {
      net.train();
      tidy(() => step.run([x]));
      assert.not.ok(net.training || net.children()[1][1].training, `run ${i}: eval mode`);
    }
    assert.is(step.recordings, 1);
    step.dispose();
  } finally {
    x.dispose();
    net.dispose();
  }
});

test.run();
