import { Tensor } from '../tensor';
import { activation } from './unary';

/** min(max(x, 0), 6), elementwise. */
export function relu6(x: Tensor): Tensor {
  return activation('relu6', 'relu6_bwd', 'x', x);
}
