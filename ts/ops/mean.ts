import { Tensor } from '../tensor';
import { reduceOp } from './sum';

/** Mean over `axes` (all by default). */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp('mean', x, axes, keepdim);
}
