import { Tensor } from '../tensor';
import { checkArg, checkNumber, runOpInto } from './op';

/** Sets every element of `t` to `value`, in place; returns t. */
export function fill_(t: Tensor, value: number): Tensor {
  checkArg('fill', 't', t);
  checkNumber('fill', 'value', value);
  if (t.size > 0) runOpInto('fill', [], [t], { value });
  return t;
}
