/** NumPy broadcasting: the result shape of two operands and the reduction of a gradient back to an operand's shape. */
import { MdmtError } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { reshape } from './reshape';
import { sum } from './sum';

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
