import { Tensor } from '../tensor';
import { activation } from './unary';

/** x·relu6(x+3)/6, elementwise. */
export function hardswish(x: Tensor): Tensor {
  return activation('hardswish', 'hardswish_bwd', 'x', x);
}
