/** Shared pieces of the optimisers: parameter validation and persistent state tensors. */
import { check, MdmtError, show } from '../errors';
import { empty, keep, shapeStr, Tensor, zeros } from '../tensor';
import { runOpInto } from '../ops/op';

export function checkParams(op: string, params: unknown): Tensor[] {
  check(Array.isArray(params) || (params !== null && typeof params === 'object' && Symbol.iterator in (params as object)),
    'EINVAL', op, `'params' must be an array of Tensors`);
  const list = [...(params as Iterable<unknown>)];
  // an optimiser over nothing would step without effect every epoch (a frozen model, a typo)
  check(list.length > 0, 'EINVAL', op, `'params' is empty: there is nothing to optimise`);
  const seen = new Set<Tensor>();
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new MdmtError('EINVAL', op, `params[${i}] must be a Tensor, got ${p === null ? 'null' : typeof p}`);
    p.assertAlive(op, `params[${i}]`);
    check(p.dtype === 'float32', 'EDTYPE', op, `params[${i}] must be float32, got ${p.dtype}`);
    // the result of an op (p.node set) never receives .grad, so the optimiser stepped nothing, silently (PyTorch: "can't optimize a non-leaf Tensor")
    check(p.node === null, 'EINVAL', op, () => `params[${i}] ${shapeStr(p.shape)} is the result of '${p.node!.op}', not a leaf tensor: it never receives a gradient; pass the tensors it was computed from`);
    check(!seen.has(p), 'EINVAL', op, `params[${i}] appears twice`);
    seen.add(p);
  });
  return list as Tensor[];
}

export function checkHyper(op: string, name: string, v: unknown, lo: number, hi = Infinity, loOpen = false): number {
  // no upper bound: "a finite number ≥ 0", not "a number in [0, Infinity]", which read as if Infinity were allowed
  check(typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && v <= hi, 'EINVAL', op, () =>
    `'${name}' must be ${hi === Infinity ? `a finite number ${loOpen ? '>' : '≥'} ${lo}` : `a number in ${loOpen ? '(' : '['}${lo}, ${hi}]`}, got ${show(v)}`);
  return v as number;
}

/** The parameters that have a gradient, each checked against its parameter. */
export function withGrads(op: string, params: Tensor[]): number[] {
  const idx: number[] = [];
  params.forEach((p, i) => {
    p.assertAlive(op, `params[${i}]`);
    const g = p.grad;
    if (!g) return;
    g.assertAlive(op, `params[${i}].grad`);
    check(g.dtype === 'float32', 'EDTYPE', op, `params[${i}].grad must be float32, got ${g.dtype}`);
    check(g.shape.length === p.shape.length && g.shape.every((d, j) => d === p.shape[j]), 'ESHAPE', op,
      `params[${i}].grad has shape ${shapeStr(g.shape)}, the parameter ${shapeStr(p.shape)}`);
    check(g.device === p.device, 'EDEVICE', op, `params[${i}].grad is on ${g.device}, the parameter on ${p.device}`);
    idx.push(i);
  });
  return idx;
}

/** A state tensor shaped like p that no tidy scope frees (optimiser state). */
export function stateLike(p: Tensor, zero: boolean): Tensor {
  return keep(zero ? zeros(p.shape, { device: p.device }) : empty(p.shape, 'float32', p.device));
}

/**
 * Checks a state tensor given to loadStateDict against the `shape` it must have. loadStateDict
 * checks every entry before it changes any: one that failed halfway had loaded the first
 * moments, or left SGD a new momentum buffer never written (uninitialised memory, stepped with).
 */
export function checkState(op: string, name: string, src: unknown, shape: readonly number[]): Tensor {
  if (!(src instanceof Tensor)) throw new MdmtError('EINVAL', op, `'${name}' must be a Tensor`);
  src.assertAlive(op, `'${name}'`);
  check(src.dtype === 'float32', 'EDTYPE', op, `'${name}' must be float32, got ${src.dtype}`);
  check(src.shape.length === shape.length && src.shape.every((d, j) => d === shape[j]), 'ESHAPE', op,
    `'${name}' has shape ${shapeStr(src.shape)}, expected ${shapeStr(shape)}`);
  return src;
}

/** Copies `src`, a state tensor checkState passed, into the optimiser's own `dst` (loadStateDict). */
export function loadInto(dst: Tensor, src: Tensor): void {
  if (dst.size > 0) runOpInto('copy', [src], [dst], {});
}
