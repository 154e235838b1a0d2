/**
 * The elementwise family (docs/ops.md "elementwise"): add, sub and mul with NumPy
 * broadcasting, affine (alpha·x + beta) and expand (broadcast, materialised). A broadcast
 * operand's gradient is the incoming one summed down to its shape (reduceTo).
 */
import { record } from '../autograd/tape';
import { check, isList, MdmtError, show } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { OpName } from './names';
import { checkArg, checkNumber, runOp } from './op';
import { sum } from './reduce';
import { reshape } from './reshape';

/** The result shape of broadcasting `a` with `b` (NumPy rules). */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) throw new MdmtError('ESHAPE', op, `shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Sums `g` (of a broadcast shape) down to `shape`. Returns g itself when shapes already match. */
export function reduceTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = sum(g, axes, true);
  if (lead === 0) return s;
  const r = reshape(s, shape);
  s.dispose();
  return r;
}

/** A broadcasting binary op whose vjp gives the gradients at the broadcast shape. */
function binaryOp(op: OpName, a: Tensor, b: Tensor, vjp: (g: Tensor) => [Tensor | null, Tensor | null]): Tensor {
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

/** a + b with NumPy broadcasting. `add(x, bias)` */
export function add(a: Tensor, b: Tensor): Tensor {
  return binaryOp('add', a, b, (g) => [g, g]);
}

/** a − b with NumPy broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binaryOp('sub', a, b, (g) => [g, affine(g, -1, 0)]);
}

/** a · b elementwise with NumPy broadcasting (SE blocks: N×C×H×W · N×C×1×1). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binaryOp('mul', a, b, (g) => [mul(g, b), mul(g, a)]);
}

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
  checkArg('scale', 'x', x, { dtype: 'float32' });
  checkNumber('scale', 'alpha', alpha); // affine's check named affine, which the caller never called
  return affine(x, alpha, 0);
}

/**
 * Broadcasts x to `shape` (NumPy's broadcast_to: x's dims, aligned right, are 1 or the
 * target's), materialised. A target that x does not broadcast to is refused: expand([1, 3] → [3, 1])
 * returned their common broadcast [3, 3], a shape nobody asked for.
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  checkArg('expand', 'x', x, { dtype: 'float32' });
  check(isList(shape), 'EINVAL', 'expand', () => `'shape' must be an array of non-negative integers, got ${show(shape)}`);
  shape.forEach((d, i) => check(Number.isInteger(d) && d >= 0, 'EINVAL', 'expand', () => `'shape'[${i}] must be a non-negative integer, got ${show(d)}`));
  const lead = shape.length - x.ndim;
  check(lead >= 0, 'ESHAPE', 'expand', () => `cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}: the target has fewer dims than x`);
  x.shape.forEach((d, i) => check(d === 1 || d === shape[lead + i], 'ESHAPE', 'expand',
    () => `cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}: dim ${i} of x is ${d}, neither 1 nor the target's ${shape[lead + i]}`));
  const out = [...shape];
  const [y] = runOp('expand', [x], {}, [{ shape: out }], ['x']);
  record('expand', [x], [y], ([g]) => [reduceTo(g!, x.shape)]);
  return y;
}
