/**
 * End to end on the CPU engine: a small CNN (conv-bn-relu-pool-linear) trained with Adam
 * on a generated, learnable problem (which of three orientations of stripes an image
 * shows, under noise and random phase) must reach > 95 % training accuracy, and the live
 * tensor count must return to its baseline after every step (no leak).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward, noGrad } from '../../ts/autograd/tape';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential } from '../../ts/nn';
import { ConvNormAct } from '../../ts/nn/blocks';
import { kaimingNormal } from '../../ts/nn/init';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tensor, tidy, Tensor } from '../../ts/tensor';
import { DEVICE, deviceAvailable, expectError, Rng } from '../helpers';

const S = 12;
function makeData(n: number, rng: Rng) {
  const x = new Float32Array(n * S * S);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cls = i % 3;
    y[i] = cls;
    const phase = rng.uniform(0, 2 * Math.PI), freq = rng.uniform(0.8, 1.2);
    for (let r = 0; r < S; r++)
      for (let c = 0; c < S; c++) {
        const u = cls === 0 ? r : cls === 1 ? c : (r + c) / Math.SQRT2;
        x[i * S * S + r * S + c] = Math.sin(freq * u + phase) + 0.5 * rng.normal();
      }
  }
  return { x, y };
}

test('small CNN trains to > 95 % training accuracy with Adam, without leaking tensors', () => {
  if (!deviceAvailable('cnn')) return;
  manualSeed(3);
  const rng = new Rng(5);
  const N = 96;
  const { x, y } = makeData(N, rng);
  const net = new Sequential(
    new Conv2d(1, 8, 3, { padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
    new Conv2d(8, 16, 3, { padding: 1 }), new BatchNorm2d(16), new ReLU(),
    new GlobalAvgPool2d(), new Flatten(), new Linear(16, 3),
  ).to(DEVICE);
  const opt = new Adam(net.parameters(), { lr: 0.02 });
  const X = tensor(x, [N, 1, S, S], { device: DEVICE });
  const Y = tensor(y, [N], { dtype: 'int32', device: DEVICE });
  const M = tensor(new Float32Array(N).fill(1), [N], { device: DEVICE });
  const base = liveTensorCount();
  let acc = 0;
  const accuracy = (logits: Tensor) => {
    const l = logits.toArray();
    let ok = 0;
    for (let i = 0; i < N; i++) {
      const row = [l[3 * i], l[3 * i + 1], l[3 * i + 2]];
      if (row.indexOf(Math.max(...row)) === y[i]) ok++;
    }
    return ok / N;
  };
  let step = 0;
  for (; step < 150 && acc <= 0.95; step++) {
    net.train();
    tidy(() => {
      const loss = maskedXent(net.forward(X), Y, M);
      backward(loss);
    });
    opt.step();
    opt.zeroGrad();
    // the optimiser's state appears on the first step; from then on nothing may grow
    if (step === 0) {
      const after = liveTensorCount();
      assert.ok(after - base <= 2 * net.parameters().length + 2, `first step created ${after - base} persistent tensors`);
    }
    net.eval();
    acc = tidy(() => noGrad(() => accuracy(net.forward(X))));
    if (step > 0) assert.is(liveTensorCount(), base + 2 * net.parameters().length, `live tensors after step ${step}`);
  }
  assert.ok(acc > 0.95, `training accuracy ${acc} after ${step} steps`);
  console.log(`  cnn: ${(acc * 100).toFixed(1)} % training accuracy after ${step} Adam steps`);
  X.dispose(); Y.dispose(); M.dispose();
  net.dispose();
  opt.dispose?.();
});

test('layer options: typos, wrong types and ranges fail at construction naming the layer, the key and the nearest valid one', () => {
  const cases: [() => unknown, string, RegExp][] = [
    [() => new Conv2d(1, 8, 3, { paddng: 1 } as never), 'Conv2d', /unknown option 'paddng' \(it would be ignored\); did you mean padding\?/],
    [() => new Conv2d(1, 8, NaN), 'Conv2d', /'kernel' must be an integer >= 1 or a pair of them, got NaN/],
    [() => new Conv2d(1, 8, 3, { stride: 0 }), 'Conv2d', /'stride' must be an integer >= 1/],
    [() => new Conv2d(1, 8, 3, { bias: 'no' } as never), 'Conv2d', /'bias' must be a boolean, got "no"/],
    [() => new Linear('3' as never, 2), 'Linear', /features must be positive integers, got in="3" out=2/],
    [() => new Linear(3, 2, { biass: false } as never), 'Linear', /unknown option 'biass'.*did you mean bias\?/],
    [() => new BatchNorm2d(4, { moment: 0.5 } as never), 'BatchNorm2d', /unknown option 'moment'.*did you mean momentum\?/],
    [() => new BatchNorm2d(4, { momentum: -1 }), 'BatchNorm2d', /'momentum' must be a number in \[0, 1\], got -1/],
    [() => new BatchNorm2d(4, { eps: 0 }), 'BatchNorm2d', /'eps' must be > 0/],
    [() => new MaxPool2d(2, { strid: 1 } as never), 'MaxPool2d', /unknown option 'strid'.*did you mean stride\?/],
    [() => new AvgPool2d(2, { countIncludePadding: false } as never), 'AvgPool2d', /unknown option 'countIncludePadding'.*did you mean countIncludePad\?/],
    [() => new ConvNormAct(1, 8, 3, { activation: 'relu' } as never), 'ConvNormAct', /unknown option 'activation'/],
    [() => new Sequential(5 as never), 'Sequential', /argument 0 must be a Module or a \[name, Module\] pair, got 5/],
  ];
  for (const [fn, op, re] of cases) expectError(fn, 'EINVAL', op, re, re.source);
  const w = tensor(new Float32Array(8), [2, 4], { device: DEVICE });
  expectError(() => kaimingNormal(w, { mode: 'fanin' } as never), 'EINVAL', 'kaimingNormal', /'mode' must be 'fan_in' or 'fan_out', got "fanin"/, 'kaiming mode');
  expectError(() => kaimingNormal(w, { nonlinearty: 'relu' } as never), 'EINVAL', 'kaimingNormal', /did you mean nonlinearity\?/, 'kaiming typo');
  w.dispose();
});

test.run();
