/**
 * conv2d_act (docs/ops.md "convolution"): y = act(conv2d(x, w, b)) through conv2dAct. Forward
 * against the float64 references (test/ref/conv2d.ts, the activations of
 * test/ref/elementwise.ts) and bit for bit against conv2d followed by the activation; the vjp
 * (x, w, b) against central differences of the reference; named errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d } from '../../ts/ops/conv2d';
import { ConvAct, conv2dAct } from '../../ts/ops/conv2d_act';
import { hardswish } from '../../ts/ops/hardswish';
import { relu } from '../../ts/ops/relu';
import { relu6 } from '../../ts/ops/relu6';
import { sigmoid } from '../../ts/ops/sigmoid';
import { silu } from '../../ts/ops/silu';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { ConvCfg, conv2dRef, convOutShape } from '../ref/conv2d';
import { activationRefs } from '../ref/activations';

const on = deviceAvailable('conv2d_act');
const ACTS: [ConvAct, (x: Tensor) => Tensor][] = [['relu', relu], ['relu6', relu6], ['silu', silu], ['sigmoid', sigmoid], ['hardswish', hardswish]];
// (x shape, w shape, stride, padding, groups): a 3×3, a strided one, a 1×1, a depthwise, batch 1
const CASES: [number[], number[], number, number, number][] = [
  [[2, 3, 7, 6], [4, 3, 3, 3], 1, 1, 1], [[1, 4, 9, 9], [6, 4, 3, 3], 2, 1, 1], [[3, 5, 4, 4], [7, 5, 1, 1], 1, 0, 1], [[2, 6, 8, 5], [6, 1, 3, 3], 1, 1, 6],
];

test('conv2d_act forward = float64 reference, = conv2d then the activation bit for bit', () => {
  if (!on) return;
  const rng = new Rng(301);
  for (const [xs, ws, s, p, groups] of CASES)
    for (const [act, fn] of ACTS)
      for (const withB of [true, false]) {
        const x = f32(rng.array(numel(xs), -2, 2)), w = f32(rng.array(numel(ws), -1, 1)), b = f32(rng.array(ws[0], -1, 1));
        const opts = { stride: s, padding: p, groups };
        const [y, y2] = tidy(() => {
          const xt = t32(x, xs), wt = t32(w, ws), bt = withB ? t32(b, [ws[0]]) : null;
          return [conv2dAct(xt, wt, bt, { ...opts, act }).toArray(), fn(conv2d(xt, wt, bt, opts)).toArray()];
        });
        const cfg: ConvCfg = { stride: [s, s], padding: [p, p], dilation: [1, 1], groups };
        const ref = conv2dRef(x, xs, w, ws, withB ? b : null, cfg).map(activationRefs[act]);
        assertClose(y, ref, { atol: 1e-5, rtol: 1e-4 }, `${act} ${xs} ${ws}`);
        assert.equal([...y], [...y2], `${act} ${xs}: fused = unfused`);
        assert.equal(convOutShape(xs, ws, cfg).reduce((a, c) => a * c, 1), y.length);
      }
});

test('conv2dAct vjp (x, w, b) = finite differences', () => {
  if (!on) return;
  const rng = new Rng(302);
  for (const [act] of ACTS) {
    const [xs, ws, s, p, groups] = CASES[0];
    const cfg: ConvCfg = { stride: [s, s], padding: [p, p], dilation: [1, 1], groups };
    gradcheck({
      label: `conv2d_act ${act}`, rng, samples: 24, tol: { atol: 2e-3, rtol: 2e-2 },
      inputs: [{ data: rng.array(numel(xs), -2, 2), shape: xs }, { data: rng.array(numel(ws), -1, 1), shape: ws }, { data: rng.array(ws[0], -1, 1), shape: [ws[0]] }],
      engine: ([x, w, b]) => conv2dAct(x, w, b, { stride: s, padding: p, groups, act }),
      ref: ([x, w, b]) => conv2dRef(x, xs, w, ws, b, cfg).map(activationRefs[act]),
    });
  }
});

test('conv2dAct: named errors', () => {
  if (!on) return;
  tidy(() => {
    const x = t32(new Float64Array(2 * 3 * 4 * 4), [2, 3, 4, 4]), w = t32(new Float64Array(4 * 3 * 9), [4, 3, 3, 3]);
    assert.throws(() => conv2dAct(x, w, null, { act: 'tanh' as ConvAct }), /'act' must be one of relu, relu6, silu, sigmoid, hardswish/);
    assert.throws(() => conv2dAct(x, w, t32([1, 2], [2]), { act: 'relu' }), /b \[2\] must have 4 elements/);
  });
});

test.run();
