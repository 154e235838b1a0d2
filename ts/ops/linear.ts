/** Fully connected layer: y = x wᵀ + b (PyTorch `F.linear`, weights [out, in]). */
import { record } from '../autograd/tape';
import { check } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, runOp } from './op';
import { matmul } from './matmul';
import { sum } from './sum';

/**
 * y[N,O] = x[N,I] · w[O,I]ᵀ + b[O].
 *   const logits = linear(features, w, b);
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const op = 'linear';
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 2 });
  checkArg(op, 'w', w, { dtype: 'float32', ndim: 2 });
  check(x.shape[1] === w.shape[1], 'ESHAPE', op, () => `x ${shapeStr(x.shape)} has ${x.shape[1]} features but w ${shapeStr(w.shape)} expects ${w.shape[1]}`);
  if (b !== null) {
    checkArg(op, 'b', b, { dtype: 'float32', ndim: 1 });
    check(b.shape[0] === w.shape[0], 'ESHAPE', op, () => `b ${shapeStr(b.shape)} must have ${w.shape[0]} elements (w ${shapeStr(w.shape)})`);
  }
  const [y] = runOp(op, b ? [x, w, b] : [x, w], {}, [{ shape: [x.shape[0], w.shape[0]] }], b ? ['x', 'w', 'b'] : ['x', 'w']);
  record(op, [x, w, b], [y], ([g]) => [
    x.requiresGrad || x.node ? matmul(g!, w) : null, // dx = g·w
    w.requiresGrad || w.node ? matmul(g!, x, { transA: true }) : null, // dw = gᵀ·x
    b && (b.requiresGrad || b.node) ? sum(g!, [0]) : null,
  ]);
  return y;
}
