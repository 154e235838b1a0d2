import { record } from '../autograd/tape';
import { Tensor } from '../tensor';
import { checkArg, checkNumber, runOp } from './op';

/** alpha·x + beta, elementwise. `affine(x, 2, 1)` */
export function affine(x: Tensor, alpha: number, beta = 0): Tensor {
  checkArg('affine', 'x', x, { dtype: 'float32' });
  checkNumber('affine', 'alpha', alpha);
  checkNumber('affine', 'beta', beta);
  const [y] = runOp('affine', [x], { alpha, beta }, [{ shape: x.shape }], ['x']);
  record('affine', [x], [y], ([g]) => [affine(g!, alpha, 0)]);
  return y;
}

/** alpha·x. */
export function scale(x: Tensor, alpha: number): Tensor {
  return affine(x, alpha, 0);
}
