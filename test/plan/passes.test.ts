/**
 * Each graph pass alone, on the recorded training step of a small residual network
 * (conv-BN-ReLU, conv-BN + shortcut add-ReLU, ReLU6 branch, pooling, linear, dropout):
 * the pass rewrites what it should (op counts), keeps the graph valid, and the plan built
 * with just that pass (then the memory plan) replays steps equal to eager ones.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool2d, Linear, ReLU, ReLU6 } from '../../ts/nn';
import { Module } from '../../ts/nn/module';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { Adam } from '../../ts/optim';
import { Graph, Pass, validateGraph } from '../../ts/plan/graph';
import { elideCopies } from '../../ts/plan/passes/copy_elide';
import { dce } from '../../ts/plan/passes/dce';
import { fuseBnAct } from '../../ts/plan/passes/fuse_bn_act';
import { memory } from '../../ts/plan/passes/memory';
import { compileStep } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, Rng } from '../helpers';

class Net extends Module {
  constructor() {
    super();
    this.registerModule('c1', new Conv2d(3, 8, 3, { padding: 1, bias: false }));
    this.registerModule('b1', new BatchNorm2d(8));
    this.registerModule('c2', new Conv2d(8, 8, 3, { padding: 1, bias: false }));
    this.registerModule('b2', new BatchNorm2d(8));
    this.registerModule('c3', new Conv2d(8, 8, 1, { bias: false }));
    this.registerModule('b3', new BatchNorm2d(8));
    this.registerModule('head', new Linear(8, 3));
  }
  forward(x: Tensor): Tensor {
    const m = (k: string) => this.child(k);
    const f = (mod: Module, t: Tensor) => mod.forward(t) as Tensor;
    const h = f(new ReLU(), f(m('b1'), f(m('c1'), x)));
    const r = f(new ReLU(), add(f(m('b2'), f(m('c2'), h)), h)); // shortcut
    const u = f(new ReLU6(), f(m('b3'), f(m('c3'), r)));
    const d = new Dropout(0.2);
    d.train();
    return f(m('head'), f(d, f(new Flatten(), f(new GlobalAvgPool2d(), u))));
  }
}

function trainee() {
  manualSeed(4);
  const net = new Net();
  net.train();
  const opt = new Adam(net.parameters(), { lr: 1e-2 });
  const step = ([x, y, m]: Tensor[]) => {
    const l = maskedXent(net.forward(x), y, m);
    backward(l);
    opt.step();
    opt.zeroGrad();
    return [l];
  };
  return { net, opt, step };
}

const data = (k: number) => {
  const r = new Rng(k);
  return [{ data: Float32Array.from({ length: 4 * 3 * 6 * 6 }, () => r.uniform(-2, 2)), shape: [4, 3, 6, 6] },
    { data: Int32Array.from({ length: 4 }, () => r.int(0, 2)), shape: [4] }, { data: new Float32Array(4).fill(1), shape: [4] }];
};

const counts = (g: Graph) => {
  const c: Record<string, number> = {};
  for (const s of g.steps) c[s.op] = (c[s.op] ?? 0) + 1;
  return c;
};

function check(label: string, pass: Pass, expect: (before: Record<string, number>, after: Record<string, number>) => void): void {
  test(`${label}: rewrites, keeps the graph valid, replays equal eager`, () => {
    if (!deviceAvailable('plan passes')) return;
    const eager = trainee(), planned = trainee();
    let before: Record<string, number> = {};
    const step = compileStep(planned.step, { passes: [pass, (g) => (validateGraph(g, label), g), memory], onRecord: (g) => (before = counts(g)) });
    try {
      for (let k = 0; k < 3; k++) {
        setDropoutSeed(k);
        const le = tidy(() => eager.step(data(k).map((d) => tensor(d.data, d.shape)))[0].item());
        setDropoutSeed(k);
        const lp = tidy(() => step.run(data(k))[0].item());
        assertClose([lp], [le], { atol: 1e-6, rtol: 1e-5 }, `${label} loss ${k}`);
      }
      expect(before, counts(step.cached[0].graph));
      const pe = eager.net.parameters(), pp = planned.net.parameters();
      pe.forEach((p, i) => assertClose(pp[i].toArray(), p.toArray(), { atol: 1e-6, rtol: 1e-5 }, `${label} parameter ${i}`));
    } finally {
      step.dispose();
      for (const t of [eager, planned]) {
        t.opt.dispose();
        t.net.dispose();
      }
    }
  });
}

check('dce', dce, (b, a) => assert.ok(Object.values(a).reduce((s, v) => s + v, 0) <= Object.values(b).reduce((s, v) => s + v, 0)));
check('copy elision', elideCopies, (b, a) => {
  assert.ok((b.copy ?? 0) > 0, 'the shortcut add makes a gradient copy');
  assert.is(a.copy ?? 0, 0, 'copies of temporaries become views');
});
check('BatchNorm + activation fusion', fuseBnAct, (b, a) => {
  assert.is(b.batchnorm_train, 3);
  assert.is(a.batchnorm_act_train, 3, 'conv-BN-ReLU, BN + shortcut-ReLU and BN-ReLU6 fuse');
  assert.is(a.batchnorm_act_bwd, 3);
  assert.is(a.batchnorm_train ?? 0, 0);
  assert.is(a.relu6_bwd ?? 0, 0);
  assert.is(a.add ?? 0, (b.add ?? 0) - 1, 'the shortcut add went into the fused op');
});

test.run();
