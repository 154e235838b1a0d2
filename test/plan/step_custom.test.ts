/**
 * compileStep on a model a library user writes (not the zoo), against the same steps op by
 * op: a Linear used twice (shared weights), a branch that is never run (parameters with no
 * gradient), frozen parameters (requiresGrad false, left out of Adam), a BatchNorm kept in
 * eval mode while the rest trains, dropout, a step that returns the logits beside the loss,
 * an lr change between runs and a partial last batch (a second plan). Every loss and logit,
 * parameter, running statistic and Adam moment must match (the plan runs the eager kernels).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import * as nn from '../../ts/nn';
import { relu } from '../../ts/ops/activations';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { maskedXent } from '../../ts/ops/masked_xent';
import { globalAvgpool } from '../../ts/ops/pool';
import { flatten } from '../../ts/ops/reshape';
import { Adam } from '../../ts/optim';
import { compileStep } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tensor, tidy, type Tensor } from '../../ts/tensor';
import { assertClose, DEVICE, Rng } from '../helpers';

const TOL = { atol: 1e-6, rtol: 1e-5 };

class Net extends nn.Module {
  private readonly conv = this.registerModule('conv', new nn.Conv2d(3, 4, 3, { padding: 1, device: DEVICE }));
  private readonly bn = this.registerModule('bn', new nn.BatchNorm2d(4, { device: DEVICE }));
  private readonly frozenBn = this.registerModule('frozen_bn', new nn.BatchNorm2d(4, { device: DEVICE }));
  private readonly shared = this.registerModule('shared', new nn.Linear(4, 4, { device: DEVICE }));
  private readonly unused = this.registerModule('unused', new nn.Linear(4, 4, { device: DEVICE }));
  private readonly frozen = this.registerModule('frozen', new nn.Linear(4, 4, { device: DEVICE }));
  private readonly drop = this.registerModule('drop', new nn.Dropout(0.3));
  private readonly head = this.registerModule('head', new nn.Linear(4, 3, { device: DEVICE }));
  constructor() {
    super();
    for (const p of [...this.frozen.parameters(), ...this.frozenBn.parameters()]) p.requiresGrad = false;
  }
  override train(mode = true): this {
    super.train(mode);
    this.frozenBn.eval(); // its running statistics stay as they are
    return this;
  }
  forward(x: Tensor): Tensor {
    let h = this.frozenBn.forward(relu(this.bn.forward(this.conv.forward(x))));
    h = flatten(globalAvgpool(h), 1);
    h = this.shared.forward(relu(this.shared.forward(h)));
    return this.head.forward(this.drop.forward(this.frozen.forward(h)));
  }
}

function make() {
  manualSeed(11);
  const net = new Net().train();
  return { net, opt: new Adam(net.parameters().filter((p) => p.requiresGrad), { lr: 1e-2, weightDecay: 1e-3 }) };
}
type Trainee = ReturnType<typeof make>;
const stepOf = (t: Trainee) => ([x, y, m]: Tensor[]) => {
  const z = t.net.forward(x);
  const l = maskedXent(z, y, m);
  backward(l);
  t.opt.step();
  t.opt.zeroGrad();
  return [l, z];
};

test('a user-written model: shared, unused and frozen parameters, an eval-mode BatchNorm, dropout, logits returned', () => {
  const eager = make(), planned = make();
  const step = compileStep(stepOf(planned));
  const live: number[] = [];
  try {
    for (let k = 0; k < 6; k++) {
      const n = k === 5 ? 3 : 4; // the partial last batch
      if (k === 3) for (const t of [eager, planned]) t.opt.lr = 3e-3;
      const rng = new Rng(70 + k);
      const x = Float32Array.from({ length: n * 3 * 64 }, () => rng.uniform(-2, 2)), y = Int32Array.from({ length: n }, (_, i) => (i + k) % 3);
      const m = new Float32Array(n).fill(1);
      setDropoutSeed(5 + k);
      const [le, ze] = tidy(() => stepOf(eager)([tensor(x, [n, 3, 8, 8], { device: DEVICE }), tensor(y, [n], { dtype: 'int32', device: DEVICE }), tensor(m, [n], { device: DEVICE })]).map((t) => t.toArray()));
      setDropoutSeed(5 + k);
      const [lp, zp] = tidy(() => step.run([{ data: x, shape: [n, 3, 8, 8] }, { data: y, shape: [n] }, { data: m, shape: [n] }]).map((t) => t.toArray()));
      assertClose(lp, le, TOL, `loss of step ${k}`);
      assertClose(zp, ze, TOL, `logits of step ${k}`);
      live.push(liveTensorCount());
    }
    assert.is(step.recordings, 2, 'the full batch and the partial one');
    assert.equal(live.slice(1, 5), [live[0], live[0], live[0], live[0]], 'no tensor left per replay');
    const [a, b] = [eager.net.stateDict(), planned.net.stateDict()];
    for (const [k, v] of a) assertClose(b.get(k)!.toArray(), v.toArray(), TOL, k);
    assert.equal([...b.get('frozen_bn.running_mean')!.toArray()], [0, 0, 0, 0], 'the eval-mode BatchNorm kept its statistics');
    assert.is(b.get('unused.weight')!.toArray()[0], a.get('unused.weight')!.toArray()[0]);
    const [sa, sb] = [eager.opt.stateDict(), planned.opt.stateDict()];
    assert.equal(sb.steps, sa.steps, 'Adam step counts (the unused branch has none)');
    sa.m.forEach((t, i) => assertClose(sb.m[i].toArray(), t.toArray(), TOL, `m[${i}]`));
    sa.v.forEach((t, i) => assertClose(sb.v[i].toArray(), t.toArray(), TOL, `v[${i}]`));
  } finally {
    step.dispose();
    for (const t of [eager, planned]) {
      t.opt.dispose();
      t.net.dispose();
    }
  }
});

test.run();
