import { DType } from '../native/binding';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';

/** x converted to `dtype` (not differentiable). float→int truncates toward zero. */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkArg('cast', 'x', x);
  const [y] = runOp('cast', [x], {}, [{ shape: x.shape, dtype }], ['x']);
  return y;
}
