import { test } from 'uvu';
import { hardswish, relu, relu6, sigmoid, silu } from '../../ts/ops/activations';
import { Tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { activationRefs } from '../ref/activations';

// exp in float32 vs float64: a few ulp
const TOL = { atol: 1e-6, rtol: 1e-5 };
const on = deviceAvailable('activations');
const FNS: [string, (x: Tensor) => Tensor][] = [['relu', relu], ['relu6', relu6], ['silu', silu], ['sigmoid', sigmoid], ['hardswish', hardswish]];
const SHAPES = [[2, 3, 4, 5], [1, 7, 3, 2], [13], [4, 1, 9, 1], [3, 8], [2, 2, 2, 2, 2]];

for (const [name, fn] of FNS) {
  test(`${name}: forward = float64 reference, inputs spanning the kinks`, () => {
    if (!on) return;
    const rng = new Rng(31);
    for (const shape of SHAPES) {
      const x = f32(rng.array(numel(shape), -8, 8));
      const y = tidy(() => fn(t32(x, shape)).toArray());
      assertClose(y, x.map(activationRefs[name]), TOL, `${name} ${shape}`);
    }
  });
  test(`${name}: vjp = finite differences (away from kinks)`, () => {
    if (!on) return;
    const rng = new Rng(32);
    for (const shape of SHAPES.slice(0, 4)) {
      // keep samples 0.01 away from the non-differentiable points 0, ±3, 6
      const x = rng.array(numel(shape), -7, 7).map((v) => ([0, 3, -3, 6].some((k) => Math.abs(v - k) < 0.01) ? v + 0.05 : v));
      gradcheck({ label: `${name} ${shape}`, rng, inputs: [{ data: x, shape }], engine: ([t]) => fn(t), ref: ([t]) => t.map(activationRefs[name]) });
    }
  });
}

test.run();
