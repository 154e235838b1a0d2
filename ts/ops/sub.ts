import { Tensor } from '../tensor';
import { affine } from './affine';
import { binaryOp } from './binary';

/** a − b with NumPy broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binaryOp('sub', a, b, (g) => [g, affine(g, -1, 0)]);
}
