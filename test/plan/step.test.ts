/**
 * The compiled step equals the eager one. For each backbone, two identical MDMT models
 * (dropout active in both heads, BatchNorm training) take the same 4 batches: one op by
 * op, the other through compileStep (the first call records, the next 3 replay natively).
 * After every step the loss must match, and at the end every parameter, BatchNorm running
 * statistic and batch counter, and Adam moment. Tolerance: |planned − eager| ≤ 1e-6 +
 * 1e-5·|eager| (the plan runs the same kernels in the same order, so the match is exact
 * unless a fusion pass reassociates a sum). The replay's working memory (its arena) must not
 * exceed the eager step's (peak live bytes above those before the step; the ratio is printed).
 * Also: the plan's cache, its errors, and what a disposed model or step does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import * as nn from '../../ts/nn';
import { native } from '../../ts/native/binding';
import { mul } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim';
import { manualSeed } from '../../ts/random';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { compileStep } from '../../ts/plan/step';
import { keep, tensor, tidy, type Tensor } from '../../ts/tensor';
import { assertClose, DEVICE, deviceAvailable } from '../helpers';
import { batch, snapshot, trainee } from './_fixture';

const TOL = { atol: 1e-6, rtol: 1e-5 };
const N = 4, S = 32, STEPS = 4;

const eagerRun = (step: ReturnType<typeof trainee>['step'], k: number) => tidy(() => {
  const ins = batch(k, N, S).map((b) => ('data' in b ? tensor(b.data, b.shape) : b));
  return step(ins)[0].item();
});

// Bytes a step needs beyond what was live before it: the peak of live native memory during it.
const transientStart = () => native().memStats('cpu', true).liveBytes;
const transientBytes = (live0: number) => native().memStats('cpu').peakBytes - live0;

for (const backbone of ['resnet18', 'densenet121', 'mobilenet_v2', 'efficientnet_b0', 'shufflenet_v2_x1_0', 'googlenet', 'efficientnet_b1_pruned']) {
  test(`${backbone}: ${STEPS - 1} replayed steps (after the recorded one) equal eager steps`, () => {
    if (!deviceAvailable('plan')) return;
    const eager = trainee(backbone), planned = trainee(backbone);
    const step = compileStep(planned.step);
    try {
      let eagerPeak = 0, planPeak = 0;
      for (let k = 0; k < STEPS; k++) {
        setDropoutSeed(77 + k);
        const e0 = transientStart();
        const le = eagerRun(eager.step, k);
        if (k === STEPS - 1) eagerPeak = transientBytes(e0);
        setDropoutSeed(77 + k);
        const p0 = transientStart();
        const lp = tidy(() => step.run(batch(k, N, S))[0].item());
        // the arena was allocated when the step was recorded: it is the replay's working memory
        if (k === STEPS - 1) planPeak = transientBytes(p0) + step.cached[0].arenaBytes;
        assertClose([lp], [le], TOL, `${backbone} loss of step ${k}`);
      }
      console.log(`  ${backbone}: step working memory planned/eager = ${(planPeak / 2 ** 20).toFixed(1)}/${(eagerPeak / 2 ** 20).toFixed(1)} MiB = ${(planPeak / eagerPeak).toFixed(2)}`);
      assert.ok(planPeak <= eagerPeak, `${backbone}: planned step memory ${planPeak} > eager ${eagerPeak}`);
      assert.is(step.recordings, 1, 'one recording, then replays');
      const g = step.cached[0].graph;
      assert.ok(g.steps.some((s) => s.op === 'dropout') && g.scalars.some((s) => s.includes('seed')), 'dropout runs with per-run seeds');
      const a = snapshot(eager), b = snapshot(planned);
      assert.equal([...b.keys()], [...a.keys()]);
      for (const [k, v] of a) assertClose(b.get(k)!, v, TOL, `${backbone} ${k}`);
    } finally {
      step.dispose();
      for (const t of [eager, planned]) {
        t.opt.dispose();
        t.model.dispose();
      }
    }
  });
}

test('a new input shape records a new plan; the cache keeps at most maxPlans', () => {
  if (!deviceAvailable('plan')) return;
  const t = trainee('resnet18');
  const step = compileStep(t.step, { maxPlans: 2 });
  try {
    for (const n of [4, 2, 4, 3, 2]) tidy(() => step.run(batch(n, n, 16)));
    // 4 and 2 recorded, 4 replayed, 3 recorded (2 evicted: least recently used), 2 recorded again
    assert.is(step.recordings, 4);
    assert.is(step.cached.length, 2);
    assert.equal(step.cached.map((p) => p.inputs[0].shape[0]), [3, 2]);
  } finally {
    step.dispose();
    t.opt.dispose();
    t.model.dispose();
  }
});

test('the plans of a step share one arena, grown to the largest', () => {
  if (!deviceAvailable('plan')) return;
  const t = trainee('resnet18');
  const step = compileStep(t.step);
  try {
    tidy(() => step.run(batch(0, 2, 16)));
    const small = step.cached[0].arenaBytes, live1 = native().memStats(DEVICE).liveBytes;
    tidy(() => step.run(batch(1, 4, 16)));
    const big = step.cached[1].arenaBytes, live2 = native().memStats(DEVICE).liveBytes;
    assert.ok(big > small);
    assert.ok(live2 - live1 <= big - small + 4096, `a second plan added ${live2 - live1} bytes; sharing should add ${big - small}`);
    // both still replay (the smaller one on the grown arena)
    for (const n of [2, 4, 2]) tidy(() => step.run(batch(n + 5, n, 16))[0].item());
    assert.is(step.recordings, 2);
  } finally {
    step.dispose();
    t.opt.dispose();
    t.model.dispose();
  }
});

test('wrong inputs and disposed models throw named errors', () => {
  if (!deviceAvailable('plan')) return;
  const t = trainee('resnet18');
  const step = compileStep(t.step);
  try {
    tidy(() => step.run(batch(0, 2, 16)));
    const plan = step.cached[0];
    const b = batch(1, 2, 16);
    assert.throws(() => plan.run([b[0]].map((x) => ('data' in x ? x.data : x))), /expects 5 inputs, got 1/);
    assert.throws(() => plan.run(b.map((x, i) => ('data' in x ? (i === 1 ? new Float32Array(2) : x.data) : x))), /input 1 has 2 float32 values, the plan's slot is int32/);
    t.model.dispose();
    // the plan's bound parameters are gone: native refuses to run it
    assert.throws(() => plan.run(b.map((x) => ('data' in x ? x.data : x))), /bound tensor '.*' \(#\d+\) has been disposed/);
    // the step drops the stale plan and records again: the eager ops name the disposed tensor
    assert.throws(() => step.run(batch(1, 2, 16)), (e: Error & { code?: string }) => e.code === 'EDISPOSED');
  } finally {
    step.dispose();
    t.opt.dispose();
    t.model.dispose();
  }
  assert.throws(() => step.run(batch(0, 2, 16)), /the step has been disposed/);
});

test('compileStep refuses what is not a step, unknown options and a bare input (each a TypeError or ignored before)', () => {
  const bad = (fn: () => unknown, op: string, re: RegExp) =>
    assert.throws(fn, (e: Error & { code?: string; op?: string }) => e.code === 'EINVAL' && e.op === op && re.test(e.message), `${op}: ${re}`);
  bad(() => compileStep(5 as never), 'compileStep', /needs the step as a function of an array of Tensors, got 5/);
  bad(() => compileStep(([x]) => [x], { maxplans: 2 } as never), 'compileStep', /unknown option 'maxplans' \(it would be ignored\); did you mean maxPlans\?/);
  bad(() => compileStep(([x]) => [x], { maxPlans: 0 }), 'compileStep', /maxPlans must be a positive integer, got 0/);
  bad(() => compileStep(([x]) => [x], { cudaGraph: 'yes' } as never), 'compileStep', /'cudaGraph' must be a boolean, got "yes"/);
  const step = compileStep(([x]) => [mul(x, x)]);
  tidy(() => {
    const x = tensor([1, 2], [2], { device: DEVICE });
    bad(() => step.run(x as never), 'CompiledStep.run', /inputs must be an array of Tensors or \{ data, shape \}, got a Tensor \(wrap it: run\(\[x\]\)\)/);
    bad(() => step.run([5] as never), 'CompiledStep.run', /inputs\[0\] must be a Tensor or \{ data: TypedArray, shape \}, got 5/);
    bad(() => step.run([{ data: [1, 2], shape: [2] }] as never), 'CompiledStep.run', /inputs\[0\] must be a Tensor or \{ data: TypedArray, shape \}/);
    const b = (e: Error & { code?: string; op?: string }) => e.code === 'EDTYPE' && e.op === 'CompiledStep.run' && /inputs\[1\]\.data is a Float64Array: a step takes a Float32Array/.test(e.message);
    assert.throws(() => step.run([x, { data: new Float64Array(2), shape: [2] }] as never), b, 'a Float64Array is named (it was "plan: input data must be ...")');
    assert.equal([...step.run([x])[0].toArray()], [1, 4]);
  });
  step.dispose();
});

test('gradients left by an eager backward() before the first run: that call runs eagerly, the next records (the README sequence)', () => {
  if (!deviceAvailable('plan')) return;
  // two identical small nets: one trained op by op, one through compileStep, after the same eager backward
  const make = () => {
    manualSeed(3);
    const net = new nn.Sequential(new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.GlobalAvgPool2d(), new nn.Flatten(), new nn.Linear(4, 2));
    return { net, opt: new Adam(net.parameters(), { lr: 1e-2 }) };
  };
  const x = tensor(Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i)), [4, 1, 16, 16], { device: DEVICE });
  const y = tensor([0, 1, 1, 0], [4], { dtype: 'int32', device: DEVICE }), m = tensor([1, 1, 1, 1], [4], { device: DEVICE });
  const [a, b] = [make(), make()];
  const fn = (t: typeof a) => ([xi, yi, mi]: Tensor[]) => { const l = maskedXent(t.net.forward(xi), yi, mi); backward(l); t.opt.step(); t.opt.zeroGrad(); return [l]; };
  const step = compileStep(fn(b));
  try {
    for (const t of [a, b]) tidy(() => backward(maskedXent(t.net.forward(x), y, m))); // .grad left on every parameter
    for (let k = 0; k < 4; k++) {
      const le = tidy(() => fn(a)([x, y, m])[0].item());
      const lp = tidy(() => step.run([x, y, m])[0].item());
      assertClose([lp], [le], TOL, `loss of step ${k}`);
    }
    assert.is(step.recordings, 2, 'the first call could not be planned (it freed the old gradients); the second recorded');
    assert.is(step.cached.length, 1);
    for (const [p, q] of a.net.parameters().map((t, i) => [t, b.net.parameters()[i]])) assertClose(q.toArray(), p.toArray(), TOL, 'parameters');
    // a step that frees a tensor it did not create on every call cannot be planned, and says so
    const w = [tensor([1, 2], [2], { device: DEVICE })];
    const bad = compileStep(([xi]) => { const r = [mul(xi, w[0])]; w[0].dispose(); w[0] = keep(tensor([1, 2], [2], { device: DEVICE })); return r; });
    tidy(() => bad.run([tensor([3, 4], [2], { device: DEVICE })]));
    assert.throws(() => tidy(() => bad.run([tensor([3, 4], [2], { device: DEVICE })])), /compileStep: the step frees tensors it did not create on every call \(a tensor of shape \[2\]\)/);
    bad.dispose();
    w[0].dispose();
    // results that are not tensors are named (a raw TypeError came from the cleanup)
    const odd = compileStep((() => [1.5]) as never);
    assert.throws(() => tidy(() => odd.run([tensor([1], [1], { device: DEVICE })])), /compileStep: the step must return an array of tensors, got \[1\.5\]/);
    odd.dispose();
  } finally {
    step.dispose();
    for (const t of [a, b]) {
      t.opt.dispose();
      t.net.dispose();
    }
    for (const t of [x, y, m]) t.dispose();
  }
});

test('a compiled step cannot replay inside the recording of another', () => {
  if (!deviceAvailable('plan')) return;
  const t = trainee('resnet18');
  const inner = compileStep(t.step);
  try {
    tidy(() => inner.run(batch(0, 2, 16))); // recorded: the next call replays
    const outer = compileStep((ins) => inner.run(ins.map((x) => x)));
    assert.throws(() => tidy(() => outer.run(batch(1, 2, 16))), /ran inside the recording of another/);
    outer.dispose();
  } finally {
    inner.dispose();
    t.opt.dispose();
    t.model.dispose();
  }
});

test('native planCreate / planRun refuse bad specs with named errors', () => {
  if (!deviceAvailable('plan')) return;
  const n = native();
  const w = tensor(new Float32Array(4), [4]);
  const base = () => ({
    device: DEVICE, arenaBytes: 64, nscalars: 1,
    values: [{ kind: 0, dtype: 'float32' as const, shape: [4], offset: 0 }, { kind: 1, dtype: 'float32' as const, shape: [4], tensor: w.id, name: 'w' },
      { kind: 3, dtype: 'float32' as const, shape: [4], offset: 16 }],
    steps: [{ op: 'add', inputs: [0, 1], outputs: [2], attrs: {}, dynamic: ['alpha', 0] }], inputs: [0], outputs: [2],
  });
  try {
    const ok = n.planCreate(base());
    n.planRun(ok.id, new Float64Array(1));
    assert.throws(() => n.planRun(ok.id, new Float64Array(2)), /run needs 1 scalars, got 2/);
    n.planFree(ok.id);
    for (const t of [...ok.inputs, ...ok.outputs]) n.free(t);
    assert.throws(() => n.planRun(ok.id, new Float64Array(1)), /plan #\d+ has been freed/);
    const bad: [string, (s: ReturnType<typeof base>) => void, RegExp][] = [
      ['offset', (s) => (s.values[2].offset = 60), /lies outside the arena of 64 bytes/],
      ['op', (s) => (s.steps[0].op = 'nope'), /unknown op 'nope'/],
      ['index', (s) => (s.steps[0].inputs = [0, 7]), /step.inputs\[\] must be an integer in \[0, 2\]/],
      ['bound shape', (s) => (s.values[1].shape = [5]), /bound tensor 'w' is float32 \[4\], the plan recorded float32 \[5\]/],
      ['scalar', (s) => (s.steps[0].dynamic = ['alpha', 3]), /step.dynamic index must be an integer in \[0, 0\]/],
    ];
    for (const [label, edit, re] of bad) {
      const s = base();
      edit(s);
      assert.throws(() => n.planCreate(s), re, label);
    }
  } finally {
    w.dispose();
  }
});

test.run();
