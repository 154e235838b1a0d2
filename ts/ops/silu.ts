import { Tensor } from '../tensor';
import { activation } from './unary';

/** x·σ(x) (swish), elementwise. */
export function silu(x: Tensor): Tensor {
  return activation('silu', 'silu_bwd', 'x', x);
}
