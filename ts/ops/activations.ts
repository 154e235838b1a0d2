/**
 * The activations family (docs/ops.md "activations"): relu, relu6, silu, sigmoid and
 * hardswish, elementwise on float32; each backward is the op's `_bwd` kernel over dy and
 * the forward's input or output, whichever the derivative needs.
 */
import { record } from '../autograd/tape';
import { Tensor } from '../tensor';
import { OpName } from './names';
import { checkArg, runOp } from './op';

/** y = op(x); backward = bwdOp(dy, x or y) as docs/ops.md says. */
function activation(op: OpName, bwdOp: OpName, uses: 'x' | 'y', x: Tensor): Tensor {
  checkArg(op, 'x', x, { dtype: 'float32' });
  const [y] = runOp(op, [x], {}, [{ shape: x.shape }], ['x']);
  record(op, [x], [y], ([g]) => {
    const [dx] = runOp(bwdOp, [g!, uses === 'x' ? x : y], {}, [{ shape: x.shape }], ['dy', uses]);
    return [dx];
  });
  return y;
}

/** max(x, 0), elementwise. */
export function relu(x: Tensor): Tensor {
  return activation('relu', 'relu_bwd', 'y', x);
}

/** min(max(x, 0), 6), elementwise. */
export function relu6(x: Tensor): Tensor {
  return activation('relu6', 'relu6_bwd', 'x', x);
}

/** x·σ(x) (swish), elementwise. */
export function silu(x: Tensor): Tensor {
  return activation('silu', 'silu_bwd', 'x', x);
}

/** 1/(1+e^−x), elementwise. */
export function sigmoid(x: Tensor): Tensor {
  return activation('sigmoid', 'sigmoid_bwd', 'y', x);
}

/** x·relu6(x+3)/6, elementwise. */
export function hardswish(x: Tensor): Tensor {
  return activation('hardswish', 'hardswish_bwd', 'x', x);
}
