/**
 * The memory family (docs/ops.md "memory"): fill a tensor in place, copy it (differentiable),
 * convert its dtype.
 */
import { record } from '../autograd/tape';
import { check, show } from '../errors';
import { DType } from '../native/binding';
import { checkFillValue, Tensor } from '../tensor';
import { checkArg, runOp, runOpInto } from './op';

/** Sets every element of `t` to `value`, in place; returns t. */
export function fill_(t: Tensor, value: number): Tensor {
  checkArg('fill', 't', t);
  checkFillValue('fill', value, t.dtype); // full()'s rule: any number for float dtypes (−∞ too), an in-range integer for int32/uint8
  if (t.size > 0) runOpInto('fill', [], [t], { value });
  return t;
}

/** A new tensor with the same data (differentiable). */
export function copy(x: Tensor): Tensor {
  checkArg('copy', 'x', x);
  const [y] = runOp('copy', [x], {}, [{ shape: x.shape, dtype: x.dtype }], ['x']);
  record('copy', [x], [y], ([g]) => [copy(g!)]);
  return y;
}
export const clone = copy;

const CAST_DTYPES: readonly string[] = ['float32', 'int32', 'uint8', 'bfloat16', 'float16'] satisfies readonly DType[];

const FLOATING: readonly string[] = ['float32', 'bfloat16', 'float16'] satisfies readonly DType[];

/**
 * x converted to `dtype`. float→int truncates toward zero. Differentiable between floating
 * dtypes, as PyTorch's x.to(dtype) (the gradient is cast back to x's dtype); an integer result
 * has no gradient.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkArg('cast', 'x', x);
  // named here: the output's allocation refused it as op 'alloc'
  check(typeof dtype === 'string' && CAST_DTYPES.includes(dtype), 'EDTYPE', 'cast', () => `dtype must be one of ${CAST_DTYPES.join(', ')}, got ${show(dtype)}`);
  const [y] = runOp('cast', [x], {}, [{ shape: x.shape, dtype }], ['x']);
  // cast(w, 'float32') cut the graph: the parameters before it got no gradient, silently
  if (FLOATING.includes(x.dtype) && FLOATING.includes(dtype)) record('cast', [x], [y], ([g]) => [cast(g!, x.dtype)]);
  return y;
}
