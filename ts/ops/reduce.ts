/**
 * The reduce family (docs/ops.md "reduce"): sum and mean over a set of axes, keeping them as
 * size 1 or dropping them. The backward broadcasts dy back over the reduced axes (and
 * divides by their element count for mean).
 */
import { record } from '../autograd/tape';
import { check, show } from '../errors';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';
import { reshape } from './reshape';

export function normAxes(op: string, ndim: number, axes: number | readonly number[] | undefined): number[] {
  // a string was spread into its characters ('0' read as axis 0, '01' as axes 0 and 1)
  check(axes === undefined || typeof axes === 'number' || Array.isArray(axes as unknown), 'EINVAL', op, () => `axes must be an integer or an array of integers, got ${show(axes)}`);
  const list = axes === undefined ? [...Array(ndim).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  const norm = list.map((a) => {
    check(Number.isInteger(a), 'EINVAL', op, () => `axis ${show(a)} is not an integer`);
    check(a >= -ndim && a < ndim, 'EINVAL', op, () => `axis ${a} out of range for ${ndim} dims`);
    return a < 0 ? a + ndim : a;
  });
  const sorted = [...new Set(norm)].sort((a, b) => a - b);
  check(sorted.length === norm.length, 'EINVAL', op, () => `repeated axis in ${JSON.stringify(axes)}`);
  return sorted;
}

export function reducedShape(shape: readonly number[], axes: number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

function reduceOp(op: 'sum' | 'mean', x: Tensor, axes: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  checkArg(op, 'x', x, { dtype: 'float32' });
  const ax = normAxes(op, x.ndim, axes);
  const [y] = runOp(op, [x], { axes: ax, keepdim }, [{ shape: reducedShape(x.shape, ax, keepdim) }], ['x']);
  const n = ax.reduce((a, i) => a * x.shape[i], 1);
  record(op, [x], [y], ([g]) => {
    const gk = keepdim ? g! : reshape(g!, reducedShape(x.shape, ax, true));
    // broadcast back over the reduced axes, then scale for mean: the expand and affine
    // kernels through the runner, because the elementwise family sits above this one (its
    // broadcasting gradients are sums); a vjp records nothing anyway
    const [e] = runOp('expand', [gk], {}, [{ shape: x.shape }], ['x']);
    if (gk !== g) gk.dispose();
    if (op === 'sum') return [e];
    const [r] = runOp('affine', [e], { alpha: n > 0 ? 1 / n : 0, beta: 0 }, [{ shape: x.shape }], ['x']);
    e.dispose();
    return [r];
  });
  return y;
}

/** Sum over `axes` (all by default). `sum(x, [0, 2, 3])` is a conv bias gradient. */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp('sum', x, axes, keepdim);
}

/** Mean over `axes` (all by default). */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp('mean', x, axes, keepdim);
}
