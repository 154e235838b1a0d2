/**
 * Issue 16, class 4: every op propagates NaN as IEEE arithmetic and PyTorch do, on the
 * device under test (MDMT_DEVICE). relu(NaN) used to be 0 on the CPU and relu6(NaN) 0 on
 * CUDA, so a NaN batch could poison the weights while the loss still looked finite.
 * Expected values are PyTorch's (torch.relu, F.relu6, F.hardswish, torch.sigmoid, F.silu,
 * F.max_pool2d, F.dropout and their backward) written out by hand.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { avgpool2d, globalAvgpool, maxpool2d } from '../../ts/ops/pool';
import { dropout } from '../../ts/ops/dropout';
import { hardswish, relu, relu6, sigmoid, silu } from '../../ts/ops/activations';
import { sum } from '../../ts/ops/reduce';
import { tensor, tidy, type Tensor } from '../../ts/tensor';
import { deviceAvailable } from '../helpers';

const on = deviceAvailable('nan');
const leaf = (data: number[], shape: number[]) => {
  const t = tensor(data, shape);
  t.requiresGrad = true;
  return t;
};
const N = NaN;
const same = (a: ArrayLike<number>, b: number[], what: string) =>
  assert.ok(b.every((v, i) => Object.is(v, a[i]) || v === a[i]), `${what}: got [${Array.from(a)}], expected [${b}]`);

// x, then per op: f(x) and df/dx at x (dy = 1) as PyTorch gives them
const X = [N, -2, 0.5, 7];
const CASES: [string, (t: Tensor) => Tensor, number[], number[]][] = [
  ['relu', relu, [N, 0, 0.5, 7], [1, 0, 1, 1]],
  ['relu6', relu6, [N, 0, 0.5, 6], [1, 0, 1, 0]],
  ['hardswish', hardswish, [N, -2 / 6, 0.5 * 3.5 / 6, 7], [1, (2 * -2 + 3) / 6, (2 * 0.5 + 3) / 6, 1]],
  ['sigmoid', sigmoid, [N, 1 / (1 + Math.exp(2)), 1 / (1 + Math.exp(-0.5)), 1 / (1 + Math.exp(-7))], [N]],
  ['silu', silu, [N, -2 / (1 + Math.exp(2)), 0.5 / (1 + Math.exp(-0.5)), 7 / (1 + Math.exp(-7))], [N]],
];

test('activations: f(NaN) = NaN forward; the backward passes dy where x is NaN (relu, relu6, hardswish) or is NaN', () => {
  if (!on) return;
  for (const [name, f, fwd, grad] of CASES) {
    tidy(() => {
      const x = leaf(X, [4]);
      const y = f(x);
      const got = Array.from(y.toArray());
      fwd.forEach((v, i) => assert.ok(Number.isNaN(v) ? Number.isNaN(got[i]) : Math.abs(got[i] - v) < 1e-6, `${name}(${X[i]}) = ${got[i]}, expected ${v}`));
      backward(sum(y));
      const g = Array.from(x.grad!.toArray());
      grad.forEach((v, i) => assert.ok(Number.isNaN(v) ? Number.isNaN(g[i]) : Math.abs(g[i] - v) < 1e-6, `${name}' at ${X[i]} = ${g[i]}, expected ${v}`));
    });
  }
  // infinities where PyTorch's result is defined
  tidy(() => {
    const x = tensor([Infinity, -Infinity], [2]);
    same(relu(x).toArray(), [Infinity, 0], 'relu(±inf)');
    same(relu6(x).toArray(), [6, 0], 'relu6(±inf)');
    same(sigmoid(x).toArray(), [1, 0], 'sigmoid(±inf)');
  });
});

test('pooling: a NaN in a max-pool window wins (its index is recorded), average pools carry it', () => {
  if (!on) return;
  tidy(() => {
    // 1×1×2×4: windows 2×2 stride 2 → [max(1,2,5,6), max(3,NaN,7,8)]
    const x = leaf([1, 2, 3, N, 5, 6, 7, 8], [1, 1, 2, 4]);
    const y = maxpool2d(x, { kernel: 2, stride: 2 });
    same(y.toArray(), [6, N], 'maxpool2d');
    backward(sum(y));
    same(x.grad!.toArray(), [0, 0, 0, 1, 0, 1, 0, 0], 'maxpool2d backward routes dy to the NaN');
    same(avgpool2d(x, { kernel: 2, stride: 2 }).toArray(), [3.5, N], 'avgpool2d');
    same(globalAvgpool(x).toArray(), [N], 'global_avgpool');
    // NaN first, then larger values: NaN still wins (PyTorch: `val > max || isnan(val)`)
    same(maxpool2d(tensor([N, 9, 9, 9], [1, 1, 2, 2]), { kernel: 2 }).toArray(), [N], 'maxpool2d with NaN first');
  });
});

test('dropout: a dropped NaN stays NaN (x · mask / (1 − p)), forward and backward', () => {
  if (!on) return;
  tidy(() => {
    const n = 256;
    const x = leaf(new Array<number>(n).fill(NaN), [n]);
    const y = dropout(x, 0.5, true, 7);
    assert.ok(Array.from(y.toArray()).every(Number.isNaN), 'every output NaN');
    const z = dropout(leaf(new Array<number>(n).fill(1), [n]), 0.5, true, 7);
    const kept = Array.from(z.toArray()).filter((v) => v !== 0).length;
    assert.ok(kept > n / 4 && kept < (3 * n) / 4, `about half kept (${kept})`);
    backward(sum(y));
    const g = Array.from(x.grad!.toArray());
    assert.ok(g.every((v) => v === 0 || v === 2), 'the gradient is the mask times 1/(1 − p) (dy finite)');
  });
});

test.run();
