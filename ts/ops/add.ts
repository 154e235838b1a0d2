import { Tensor } from '../tensor';
import { binaryOp } from './binary';

/** a + b with NumPy broadcasting. `add(x, bias)` */
export function add(a: Tensor, b: Tensor): Tensor {
  return binaryOp('add', a, b, (g) => [g, g]);
}
