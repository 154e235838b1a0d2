/** Shared implementation of the broadcasting binary ops (add, sub, mul). */
import { record } from '../autograd/tape';
import { Tensor } from '../tensor';
import { broadcastShapes, reduceTo } from './broadcast';
import { OpName } from './names';
import { checkArg, runOp } from './op';

export function binaryOp(op: OpName, a: Tensor, b: Tensor, vjp: (g: Tensor) => [Tensor | null, Tensor | null]): Tensor {
  checkArg(op, 'a', a, { dtype: 'float32' });
  checkArg(op, 'b', b, { dtype: 'float32' });
  const shape = broadcastShapes(op, a.shape, b.shape);
  const [y] = runOp(op, [a, b], {}, [{ shape }], ['a', 'b']);
  record(op, [a, b], [y], ([g]) => {
    const [ga, gb] = vjp(g!);
    const ra = ga && reduceTo(ga, a.shape);
    const rb = gb && reduceTo(gb, b.shape);
    // drop intermediates that were reduced (never the incoming g, which the tape owns)
    if (ga && ra !== ga && ga !== g) ga.dispose();
    if (gb && rb !== gb && gb !== g) gb.dispose();
    return [ra, rb];
  });
  return y;
}
