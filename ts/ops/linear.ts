/**
 * The linear family (docs/ops.md "linear"): the fully connected layer y = x wᵀ + b (PyTorch
 * `F.linear`, weights [out, in]) and the matrix product of two 2-D tensors, optionally
 * transposed, that is its backward (and the GEMM's test surface).
 */
import { record } from '../autograd/tape';
import { check, checkOptions } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import type { GemmIsa } from './conv2d';
import { checkArg, runOp } from './op';
import { sum } from './reduce';

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

const MATMUL_KEYS = { transA: true, transB: true, isa: true } as const;

/** Options of matmul: c = op(a)·op(b). */
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** @internal forces a CPU GEMM micro-kernel (tests exercise every ISA on one machine) */
  isa?: GemmIsa;
}

/**
 * c = op(a)·op(b) with op(t) = tᵀ when transA / transB is set.
 *   matmul(a, b)                      // [M,K]·[K,N]
 *   matmul(g, x, { transA: true })    // gᵀ·x: a weight gradient
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  checkArg(op, 'a', a, { dtype: 'float32', ndim: 2 });
  checkArg(op, 'b', b, { dtype: 'float32', ndim: 2 });
  check(opts !== null && typeof opts === 'object', 'EINVAL', op, 'options must be an object');
  checkOptions(op, opts, MATMUL_KEYS);
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  check(typeof transA === 'boolean' && typeof transB === 'boolean', 'EINVAL', op, `'transA' and 'transB' must be booleans`);
  const [M, K] = transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [Kb, N] = transB ? [b.shape[1], b.shape[0]] : b.shape;
  check(K === Kb, 'ESHAPE', op,
    () => `inner dimensions differ: op(a) is ${M}x${K} (a ${shapeStr(a.shape)}${transA ? ', transA' : ''}), op(b) is ${Kb}x${N} (b ${shapeStr(b.shape)}${transB ? ', transB' : ''})`);
  const attrs = { transA, transB, ...(opts.isa ? { isa: opts.isa } : {}) };
  const [c] = runOp(op, [a, b], attrs, [{ shape: [M, N] }], ['a', 'b']);
  record(op, [a, b], [c], ([g]) => {
    // d op(a) = g·op(b)ᵀ, d op(b) = op(a)ᵀ·g, then undo the transposes
    const ga = a.requiresGrad || a.node
      ? (transA ? matmul(b, g!, { transA: transB, transB: true }) : matmul(g!, b, { transB: !transB }))
      : null;
    const gb = b.requiresGrad || b.node
      ? (transB ? matmul(g!, a, { transA: true, transB: transA }) : matmul(a, g!, { transA: !transA }))
      : null;
    return [ga, gb];
  });
  return c;
}
