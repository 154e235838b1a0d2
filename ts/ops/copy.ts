import { record } from '../autograd/tape';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';

/** A new tensor with the same data (differentiable). */
export function copy(x: Tensor): Tensor {
  checkArg('copy', 'x', x);
  const [y] = runOp('copy', [x], {}, [{ shape: x.shape, dtype: x.dtype }], ['x']);
  record('copy', [x], [y], ([g]) => [copy(g!)]);
  return y;
}
export const clone = copy;
