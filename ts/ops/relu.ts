import { Tensor } from '../tensor';
import { activation } from './unary';

/** max(x, 0), elementwise. */
export function relu(x: Tensor): Tensor {
  return activation('relu', 'relu_bwd', 'y', x);
}
