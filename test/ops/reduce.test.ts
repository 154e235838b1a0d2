import { test } from 'uvu';
import { mean, sum } from '../../ts/ops/reduce';
import { tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, f32, gradcheck, numel, Rng, t32 } from '../helpers';
import { reduceRef } from '../ref/reduce';

// float32 sums of up to ~10^4 terms accumulated in double: relative 1e-6
const TOL = { atol: 1e-5, rtol: 1e-5 };
const on = deviceAvailable('reduce');

const CASES: [number[], number[]][] = [
  [[2, 3, 4, 5], [0, 2, 3]], // conv bias gradient
  [[4, 7], [0]], // linear bias gradient
  [[2, 3, 5, 7], [2, 3]], // global spatial
  [[3, 4, 5], [1]], // middle axis, strided
  [[6], [0]], // to a scalar
  [[1, 2, 3, 1], [0, 1, 2, 3]], // batch 1, everything
  [[2, 64, 33], [0, 2]], // larger, asymmetric
];

for (const [name, fn] of [['sum', sum], ['mean', mean]] as const) {
  test(`${name}: forward = float64 reference (keepdim both ways)`, () => {
    if (!on) return;
    const rng = new Rng(21);
    for (const [shape, axes] of CASES) {
      const x = f32(rng.array(numel(shape)));
      const ref = reduceRef(x, shape, axes, name === 'mean');
      for (const keep of [true, false]) {
        const y = tidy(() => fn(t32(x, shape), axes, keep).toArray());
        assertClose(y, ref, TOL, `${name} ${shape} axes ${axes} keepdim ${keep}`);
      }
    }
  });
  test(`${name}: vjp = finite differences`, () => {
    if (!on) return;
    const rng = new Rng(22);
    for (const [shape, axes] of CASES.slice(0, 6)) {
      gradcheck({ label: `${name} ${shape} ${axes}`, rng, inputs: [{ data: rng.array(numel(shape)), shape }],
        engine: ([x]) => fn(x, axes, false), ref: ([x]) => reduceRef(x, shape, axes, name === 'mean') });
    }
  });
}

test.run();
