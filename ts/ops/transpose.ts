/**
 * Permutes the dims (PyTorch `x.permute(perm)`), materialised contiguously; up to 6 dims.
 *
 *   transpose(x, [0, 2, 3, 1])    // NCHW → NHWC
 */
import { record } from '../autograd/tape';
import { check, isList } from '../errors';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  checkArg('transpose', 'x', x);
  check(x.ndim <= 6, 'ESHAPE', 'transpose', () => `at most 6 dims, got ${x.ndim}`);
  check(isList(perm) && perm.length === x.ndim && perm.every((p) => Number.isInteger(p) && p >= 0 && p < x.ndim)
    && new Set(perm).size === perm.length, 'EINVAL', 'transpose',
    `'perm' must be a permutation of 0..${x.ndim - 1}, got ${JSON.stringify(perm)}`);
  const shape = perm.map((p) => x.shape[p]);
  const [y] = runOp('transpose', [x], { perm: [...perm] }, [{ shape, dtype: x.dtype }], ['x']);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  record('transpose', [x], [y], ([dy]) => [transpose(dy!, inverse)]);
  return y;
}
