import { Tensor } from '../tensor';
import { binaryOp } from './binary';

/** a · b elementwise with NumPy broadcasting (SE blocks: N×C×H×W · N×C×1×1). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binaryOp('mul', a, b, (g) => [mul(g, b), mul(g, a)]);
}
