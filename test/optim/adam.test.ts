import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { Adam, AdamW } from '../../ts/optim';
import { liveTensorCount, Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, expectError, f32, numel, param, Rng, setGrad, t32 } from '../helpers';
import { rerunUnderIsaCaps } from '../ops/_isa';
import { adamStepRef, AdamRefState } from '../ref/optim';

// float32 state vs float64 over several steps: the moments and parameters drift by a few
// ulp per step (parameters are O(1), updates O(lr))
const TOL = { atol: 2e-6, rtol: 1e-5 };
const on = deviceAvailable('adam');
const SHAPES = [[3, 4], [7], [2, 3, 2, 2], [1], [40000]];


interface Cfg {
  label: string;
  make: (ps: Tensor[]) => Adam;
  ref: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean };
}
const CFGS: Cfg[] = [
  { label: 'Adam defaults', make: (ps) => new Adam(ps), ref: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false } },
  { label: 'Adam lr 1e-2, L2 weight decay 1e-4 (the paper)', make: (ps) => new Adam(ps, { lr: 1e-2, weightDecay: 1e-4 }),
    ref: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, decoupled: false } },
  { label: 'Adam betas (0.5, 0.9), eps 1e-3, wd 0.1', make: (ps) => new Adam(ps, { lr: 5e-2, betas: [0.5, 0.9], eps: 1e-3, weightDecay: 0.1 }),
    ref: { lr: 5e-2, beta1: 0.5, beta2: 0.9, eps: 1e-3, weightDecay: 0.1, decoupled: false } },
  { label: 'AdamW defaults (wd 1e-2)', make: (ps) => new AdamW(ps, { lr: 1e-2 }), ref: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: true } },
  { label: 'AdamW wd 0.3, beta1 0', make: (ps) => new AdamW(ps, { lr: 3e-2, weightDecay: 0.3, betas: [0, 0.99] }),
    ref: { lr: 3e-2, beta1: 0, beta2: 0.99, eps: 1e-8, weightDecay: 0.3, decoupled: true } },
];

for (const cfg of CFGS) {
  test(`${cfg.label}: 6 steps = float64 PyTorch update rule`, () => {
    if (!on) return;
    const rng = new Rng(401);
    const data = SHAPES.map((s) => f32(rng.array(numel(s), -1, 1)));
    const ps = SHAPES.map((s, i) => param(data[i], s));
    const ref = data.map((d) => Float64Array.from(d));
    const st: AdamRefState[] = data.map((d) => ({ m: new Float64Array(d.length), v: new Float64Array(d.length), step: 0 }));
    const opt = cfg.make(ps);
    for (let step = 0; step < 6; step++) {
      ps.forEach((p, i) => {
        // gradients of mixed magnitude, some exactly zero
        const g = f32(rng.array(p.size, -1, 1).map((v, k) => (k % 7 === 3 ? 0 : v * (1 + 10 * (k % 3)))));
        setGrad(p, g);
        adamStepRef(ref[i], g, st[i], cfg.ref);
      });
      opt.step();
    }
    ps.forEach((p, i) => assertClose(p.toArray(), ref[i], TOL, `${cfg.label} param ${i} ${SHAPES[i]}`));
    const s = opt.stateDict();
    ps.forEach((_, i) => {
      assertClose(s.m[i].toArray(), st[i].m, TOL, `m ${i}`);
      assertClose(s.v[i].toArray(), st[i].v, { atol: 1e-7, rtol: 1e-5 }, `v ${i}`);
    });
    assert.is(s.step, 6);
    opt.dispose();
    for (const p of ps) {
      p.grad?.dispose();
      p.dispose();
    }
  });
}

// β1 ≤ ½ takes torch's second lerp form, g − (g − m)·β1: exact g at β1 = 0. The first form,
// m + (1 − β1)(g − m), rounded a gradient much smaller than m away (1 + (1e−10 − 1) = 0), so
// the moment and the update were 0 where PyTorch's are not. Gradients alternate 1 and 1e−10.
for (const beta1 of [0, 0.25]) {
  test(`Adam beta1 ${beta1}: a gradient far smaller than the moment is kept (torch's lerp for weights ≥ ½)`, () => {
    if (!on) return;
    const n = 37; // a vector body and a tail
    const p = param(f32(Array.from({ length: n }, (_, i) => 0.5 - i / 100)), [n]);
    const ref = Float64Array.from(p.toArray() as Float32Array);
    const st: AdamRefState = { m: new Float64Array(n), v: new Float64Array(n), step: 0 };
    const o = { lr: 1e-3, beta1, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    const opt = new Adam([p], { lr: o.lr, betas: [beta1, o.beta2] });
    for (let step = 0; step < 4; step++) {
      const g = f32(Array.from({ length: n }, (_, i) => (step % 2 ? 1e-10 * (1 + i) : 1 + i / 10)));
      setGrad(p, g);
      adamStepRef(ref, Float64Array.from(g), st, o);
      opt.step();
      const m = opt.stateDict().m[0].toArray() as Float32Array;
      if (beta1 === 0) assert.equal(Array.from(m), Array.from(g), `step ${step}: m = g exactly`);
      else assertClose(m, st.m, { atol: 0, rtol: 1e-6 }, `step ${step}: m`);
    }
    assertClose(p.toArray(), ref, { atol: 1e-7, rtol: 1e-6 }, 'parameters');
    opt.dispose();
    p.grad?.dispose();
    p.dispose();
  });
}

test('Adam: parameters without a gradient are skipped and keep their own step count (bias correction)', () => {
  if (!on) return;
  const rng = new Rng(402);
  const o = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
  const data = [f32(rng.array(5)), f32(rng.array(6))];
  const ps = data.map((d) => param(d, [d.length]));
  const ref = data.map((d) => Float64Array.from(d));
  const st = data.map((d) => ({ m: new Float64Array(d.length), v: new Float64Array(d.length), step: 0 }));
  const opt = new Adam(ps, { lr: 1e-2 });
  for (let step = 0; step < 5; step++) {
    ps.forEach((p, i) => {
      p.grad?.dispose();
      p.grad = null;
      if (i === 1 && step % 2 === 0) return; // param 1 has no gradient on steps 0, 2, 4
      const g = f32(rng.array(p.size));
      setGrad(p, g);
      adamStepRef(ref[i], g, st[i], o);
    });
    opt.step();
  }
  ps.forEach((p, i) => assertClose(p.toArray(), ref[i], TOL, `param ${i}`));
  assert.equal(opt.stateDict().steps, [5, 2]);
  opt.dispose();
  for (const p of ps) { p.grad?.dispose(); p.dispose(); }
});

test('Adam: lr set between steps (the scheduler) is used by the next step', () => {
  if (!on) return;
  const rng = new Rng(403);
  const d = f32(rng.array(8));
  const p = param(d, [8]);
  const ref = Float64Array.from(d);
  const st = { m: new Float64Array(8), v: new Float64Array(8), step: 0 };
  const opt = new Adam([p], { lr: 1e-2 });
  for (const lr of [1e-2, 1e-2, 6.5e-3, 4.2e-3]) {
    opt.lr = lr;
    assert.is(opt.lr, lr);
    const g = f32(rng.array(8));
    setGrad(p, g);
    adamStepRef(ref, g, st, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false });
    opt.step();
  }
  assertClose(p.toArray(), ref, TOL, 'param');
  opt.dispose();
  p.grad?.dispose();
  p.dispose();
});

test('Adam: stateDict / loadStateDict resume gives the same trajectory; state survives tidy; zeroGrad', () => {
  if (!on) return;
  const rng = new Rng(404);
  const d = f32(rng.array(10));
  const grads = [0, 1, 2, 3, 4].map(() => f32(rng.array(10)));
  const run = (split: boolean) => {
    const p = param(d, [10]);
    let opt = new Adam([p], { lr: 1e-2, weightDecay: 1e-3 });
    grads.forEach((g, k) => {
      if (split && k === 3) {
        const saved = opt.stateDict();
        const fresh = new Adam([p], { lr: 0.5, weightDecay: 1e-3 }); // lr comes from the state
        fresh.loadStateDict(saved);
        opt.dispose();
        opt = fresh;
        assert.is(opt.lr, 1e-2, 'lr restored');
      }
      tidy(() => { setGrad(p, g); opt.step(); }); // the state must outlive the scope
      opt.zeroGrad();
      assert.is(p.grad, null, 'zeroGrad clears the gradient');
    });
    const r = p.toArray();
    opt.dispose();
    p.dispose();
    return Array.from(r);
  };
  assert.equal(run(true), run(false), 'resumed trajectory is bit-identical');
  const before = liveTensorCount();
  const p = param(d, [10]);
  const opt = new Adam([p]);
  setGrad(p, grads[0]);
  opt.step();
  opt.dispose();
  p.grad!.dispose();
  p.dispose();
  assert.is(liveTensorCount(), before, 'dispose() frees the moments');
});


test('Adam: a refused loadStateDict leaves the moments, steps and lr as they were', () => {
  if (!on) return;
  const p = param([1, 2], [2]), q = param([3], [1]);
  const opt = new Adam([p, q], { lr: 1e-2 });
  setGrad(p, [1, 1]);
  setGrad(q, [1]);
  opt.step();
  const before = opt.stateDict();
  const snap = [...before.m, ...before.v].map((t) => Array.from(t.toArray()));
  tidy(() => {
    const m7 = t32([7, 7], [2]);
    expectError(() => opt.loadStateDict({ step: 5, lr: 1, m: [m7, 'x' as never], v: [m7, t32([0], [1])] }), 'EINVAL', 'Adam', /'m\[1\]' must be a Tensor/, 'not a tensor');
    expectError(() => opt.loadStateDict({ step: 5, lr: 1, m: [m7, t32([0], [1])], v: [m7, t32([0, 0], [2])] }), 'ESHAPE', 'Adam', /'v\[1\]' has shape \[2\], expected \[1\]/, 'wrong shape');
  });
  const after = opt.stateDict();
  assert.equal([...after.m, ...after.v].map((t) => Array.from(t.toArray())), snap, 'moments untouched');
  assert.equal(after.steps, [1, 1], 'steps untouched');
  assert.is(opt.lr, 1e-2, 'lr untouched');
  opt.dispose();
  for (const t of [p, q]) {
    t.grad!.dispose();
    t.dispose();
  }
});

test('Adam / AdamW: bad inputs give MdmtError naming the optimiser and the argument', () => {
  if (!on) return;
  tidy(() => {
    const p = t32([1, 2, 3], [3]);
    expectError(() => new Adam([p], { lr: -1 }), 'EINVAL', 'Adam', /'lr'/, 'negative lr');
    // an unbounded range said "a number in [0, Infinity]" and then refused Infinity
    expectError(() => new Adam([p], { lr: Infinity }), 'EINVAL', 'Adam', /'lr' must be a finite number ≥ 0, got Infinity$/, 'infinite lr');
    expectError(() => new Adam([p], { lr: -1 }), 'EINVAL', 'Adam', /'lr' must be a finite number ≥ 0, got -1$/, 'negative lr, worded');
    expectError(() => new Adam([p], { betas: [0.9, 1] }), 'EINVAL', 'Adam', /'betas'/, 'beta2 = 1');
    expectError(() => new AdamW([p], { eps: -1 }), 'EINVAL', 'AdamW', /'eps'/, 'negative eps');
    expectError(() => new Adam([p, 3 as never]), 'EINVAL', 'Adam', /params\[1\]/, 'non-tensor param');
    expectError(() => new Adam([p, p]), 'EINVAL', 'Adam', /params\[1\].*twice/, 'repeated param');
    expectError(() => new Adam([]), 'EINVAL', 'Adam', /'params' is empty/, 'no parameters');
    expectError(() => new Adam([p], { lR: 0.5 } as never), 'EINVAL', 'Adam', /unknown option 'lR' \(it would be ignored\); did you mean lr\?/, 'option typo');
    expectError(() => new AdamW([p], { weight_decay: 0.1 } as never), 'EINVAL', 'AdamW', /unknown option 'weight_decay'.*did you mean weightDecay\?/, 'snake case');
    expectError(() => new Adam([p], 0.01 as never), 'EINVAL', 'Adam', /options must be an object, got 0\.01/, 'lr as options');
    const opt = new Adam([p]);
    p.grad = t32([1, 2], [2]);
    expectError(() => opt.step(), 'ESHAPE', 'Adam', /params\[0\]\.grad/, 'gradient shape');
    p.grad = t32([1, 2, 3], [3]);
    p.grad.dispose();
    expectError(() => opt.step(), 'EDISPOSED', 'Adam', /params\[0\]\.grad/, 'disposed gradient');
    p.grad = null;
    p.dispose();
    expectError(() => opt.step(), 'EDISPOSED', 'Adam', /params\[0\]/, 'disposed parameter');
    expectError(() => { opt.lr = NaN; }, 'EINVAL', 'Adam', /'lr'/, 'NaN lr');
    // the kernel's own checks
    const g = t32([1, 1], [2]), q = t32([1, 1], [2]), m = t32([0, 0], [2]), v = t32([0], [1]);
    const attrs = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, decoupled: false, bias_correction1: 0.1, bias_correction2: 0.001 };
    const run = (ins: Tensor[], outs: Tensor[], a: Record<string, number | boolean> = attrs) => () => native().run('adam', ins.map((t) => t.id), outs.map((t) => t.id), a);
    expectError(run([g], [q, m, v]), 'ESHAPE', 'adam', /'v1'/, 'native v shape');
    expectError(run([g], [q, m]), 'EINVAL', 'adam', /3 outputs per gradient/, 'native output count');
    expectError(run([g], [q, m, t32([0, 0], [2])], { ...attrs, bias_correction1: 0 }), 'EINVAL', 'adam', /bias_correction1/, 'native bias correction');
    expectError(run([g], [q, m, t32([0, 0], [2])], { ...attrs, beta1: 1 }), 'EINVAL', 'adam', /beta1/, 'native beta1');
  });
});

// the update loop is compiled per ISA (native/cpu/optim.cc): each one against the reference
rerunUnderIsaCaps(__filename, 'adam');

test.run();
