import { Tensor } from '../tensor';
import { activation } from './unary';

/** 1/(1+e^−x), elementwise. */
export function sigmoid(x: Tensor): Tensor {
  return activation('sigmoid', 'sigmoid_bwd', 'y', x);
}
