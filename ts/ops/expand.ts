import { record } from '../autograd/tape';
import { Tensor } from '../tensor';
import { broadcastShapes, reduceTo } from './broadcast';
import { checkArg, runOp } from './op';

/** Broadcasts x to `shape` (NumPy rules), materialised. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  checkArg('expand', 'x', x, { dtype: 'float32' });
  const out = broadcastShapes('expand', x.shape, shape);
  const [y] = runOp('expand', [x], {}, [{ shape: out }], ['x']);
  record('expand', [x], [y], ([g]) => [reduceTo(g!, x.shape)]);
  return y;
}
