import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { SGD, SGDOptions } from '../../ts/optim';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, expectError, f32, numel, param, Rng, setGrad, t32 } from '../helpers';
import { sgdStepRef, SgdRefState } from '../ref/optim';
import { rerunUnderIsaCaps } from '../ops/_isa';

// float32 vs float64 over 6 steps of O(lr) updates to O(1) parameters
const TOL = { atol: 2e-6, rtol: 1e-5 };
const on = deviceAvailable('sgd');
const SHAPES = [[3, 4], [7], [2, 3, 2, 2], [1], [40000]];


const CFGS: [string, SGDOptions][] = [
  ['plain', { lr: 0.1 }],
  ['momentum 0.9', { lr: 0.05, momentum: 0.9 }],
  ['momentum 0.9, dampening 0.3, weight decay 1e-2', { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 1e-2 }],
  ['nesterov 0.9, weight decay 1e-3', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }],
  ['weight decay only', { lr: 0.2, weightDecay: 0.1 }],
];

for (const [label, opts] of CFGS) {
  test(`SGD ${label}: 6 steps = float64 PyTorch update rule`, () => {
    if (!on) return;
    const rng = new Rng(501);
    const data = SHAPES.map((s) => f32(rng.array(numel(s), -1, 1)));
    const ps = SHAPES.map((s, i) => param(data[i], s));
    const ref = data.map((d) => Float64Array.from(d));
    const st: SgdRefState[] = data.map(() => ({ buf: null }));
    const o = { lr: opts.lr!, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, weightDecay: opts.weightDecay ?? 0, nesterov: opts.nesterov ?? false };
    const opt = new SGD(ps, opts);
    for (let step = 0; step < 6; step++) {
      ps.forEach((p, i) => {
        if (i === 1 && step < 2) { // param 1 joins late: its buffer starts at step 2
          p.grad?.dispose();
          p.grad = null;
          return;
        }
        const g = f32(rng.array(p.size, -2, 2));
        setGrad(p, g);
        sgdStepRef(ref[i], g, st[i], o);
      });
      tidy(() => opt.step());
    }
    ps.forEach((p, i) => assertClose(p.toArray(), ref[i], TOL, `${label} param ${i} ${SHAPES[i]}`));
    const s = opt.stateDict();
    ps.forEach((_, i) => {
      if (o.momentum === 0) assert.is(s.buf[i], null, 'no buffer without momentum');
      else assertClose(s.buf[i]!.toArray(), st[i].buf!, TOL, `buf ${i}`);
    });
    opt.dispose();
    for (const p of ps) { p.grad?.dispose(); p.dispose(); }
  });
}

test('SGD: stateDict / loadStateDict resume is bit-identical; lr setter', () => {
  if (!on) return;
  const rng = new Rng(502);
  const d = f32(rng.array(9));
  const grads = [0, 1, 2, 3, 4].map(() => f32(rng.array(9)));
  const run = (split: boolean) => {
    const p = param(d, [9]);
    let opt = new SGD([p], { lr: 0.1, momentum: 0.8, nesterov: true });
    grads.forEach((g, k) => {
      if (k === 2) opt.lr = 0.05;
      if (split && k === 3) {
        const fresh = new SGD([p], { lr: 1, momentum: 0.8, nesterov: true });
        fresh.loadStateDict(opt.stateDict());
        opt.dispose();
        opt = fresh;
        assert.is(opt.lr, 0.05);
      }
      setGrad(p, g);
      opt.step();
      opt.zeroGrad();
    });
    const r = Array.from(p.toArray());
    opt.dispose();
    p.dispose();
    return r;
  };
  assert.equal(run(true), run(false));
});


test('SGD: a refused loadStateDict leaves the state as it was (no uninitialised momentum buffer)', () => {
  if (!on) return;
  // a freed buffer of junk in the allocator's cache: an uninitialised buffer would reuse it
  tidy(() => t32([1e6, 1e6, 1e6, 1e6], [4]));
  const p = param([0, 0, 0, 0], [4]), q = param([0, 0], [2]);
  const opt = new SGD([p, q], { lr: 1, momentum: 0.9 });
  expectError(() => opt.loadStateDict({ lr: 0.5, buf: [null, {} as never] }), 'EINVAL', 'SGD', /'buf\[1\]' must be a Tensor/, 'not a tensor');
  const wrong = t32([1, 2, 3], [3]);
  expectError(() => opt.loadStateDict({ lr: 0.5, buf: [wrong, null] }), 'ESHAPE', 'SGD', /'buf\[0\]' has shape \[3\], expected \[4\]/, 'wrong shape');
  wrong.dispose();
  assert.equal(opt.stateDict().buf, [null, null], 'no buffer was created by the refused loads');
  assert.is(opt.lr, 1, 'lr untouched');
  setGrad(p, [1, 1, 1, 1]);
  opt.step();
  assert.equal(Array.from(p.toArray()), [-1, -1, -1, -1], 'the first momentum step is the gradient itself');
  opt.dispose();
  p.grad!.dispose();
  p.dispose();
  q.dispose();
});

test('SGD: bad inputs give MdmtError naming the optimiser and the argument', () => {
  if (!on) return;
  tidy(() => {
    const p = t32([1, 2, 3], [3]);
    expectError(() => new SGD([p], { lr: -0.1 }), 'EINVAL', 'SGD', /'lr'/, 'negative lr');
    expectError(() => new SGD([p], { lr: 0.1, nesterov: true }), 'EINVAL', 'SGD', /nesterov/, 'nesterov without momentum');
    expectError(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), 'EINVAL', 'SGD', /nesterov/, 'nesterov with dampening');
    expectError(() => new SGD([p], { dampening: 2 }), 'EINVAL', 'SGD', /'dampening'/, 'dampening > 1');
    expectError(() => new SGD([p], { momentun: 0.9 } as never), 'EINVAL', 'SGD', /unknown option 'momentun'.*options: lr, momentum/, 'option typo');
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = t32([1, 2, 3, 4], [4]);
    expectError(() => opt.step(), 'ESHAPE', 'SGD', /params\[0\]\.grad/, 'gradient shape');
    p.grad = null;
    p.dispose();
    expectError(() => opt.step(), 'EDISPOSED', 'SGD', /params\[0\]/, 'disposed parameter');
    const g = t32([1, 1], [2]), q = t32([1, 1], [2]);
    const run = (outs: Tensor[], a: Record<string, number | boolean>) => () => native().run('sgd', [g.id], outs.map((t) => t.id), a);
    expectError(run([q], { lr: 0.1, momentum: 0.9 }), 'EINVAL', 'sgd', /2 outputs per gradient/, 'native missing buffer');
    expectError(run([q, t32([0], [1])], { lr: 0.1, momentum: 0.9 }), 'ESHAPE', 'sgd', /'buf1'/, 'native buffer shape');
    expectError(run([q], { lr: 0.1, momentum: 0, nesterov: true }), 'EINVAL', 'sgd', /nesterov/, 'native nesterov');
    expectError(run([q], { momentum: 0 }), 'EINVAL', 'sgd', /'lr'/, 'native missing lr');
  });
});

// the update loop is compiled per ISA (native/cpu/optim.cc): each one against the reference
rerunUnderIsaCaps(__filename, 'sgd');

test.run();
