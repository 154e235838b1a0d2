/** Shared implementation of the activations (relu, relu6, silu, sigmoid, hardswish). */
import { record } from '../autograd/tape';
import { Tensor } from '../tensor';
import { OpName } from './names';
import { checkArg, runOp } from './op';

/** y = op(x); backward = bwdOp(dy, x or y) as docs/ops.md says. */
export function activation(op: OpName, bwdOp: OpName, uses: 'x' | 'y', x: Tensor): Tensor {
  checkArg(op, 'x', x, { dtype: 'float32' });
  const [y] = runOp(op, [x], {}, [{ shape: x.shape }], ['x']);
  record(op, [x], [y], ([g]) => {
    const [dx] = runOp(bwdOp, [g!, uses === 'x' ? x : y], {}, [{ shape: x.shape }], ['dy', uses]);
    return [dx];
  });
  return y;
}
