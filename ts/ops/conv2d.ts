/**
 * 2-D convolution (PyTorch `F.conv2d`): x [N,C,H,W], w [K,C/groups,R,S], optional b [K]
 * → y [N,K,P,Q], P = ⌊(H + 2ph − dh(R−1) − 1)/sh⌋ + 1. Its backward kernels are ops of their
 * own (conv2d_bwd_data, conv2d_bwd_filter) so each backend maps them to its best call.
 */
import { record } from '../autograd/tape';
import { check, checkOptions, show } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, pair, runOp } from './op';
import { sum } from './reduce';

export type GemmIsa = 'auto' | 'generic' | 'avx2' | 'avx512' | 'avx512_14x32' | 'avx512_8x48';
const ISAS: readonly GemmIsa[] = ['auto', 'generic', 'avx2', 'avx512', 'avx512_14x32', 'avx512_8x48'];

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
  /** @internal forces a CPU GEMM micro-kernel (tests exercise every ISA on one machine) */
  isa?: GemmIsa;
}

export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  isa?: GemmIsa;
}

/** The option names of conv2d and its backward ops. */
export const CONV2D_KEYS = { stride: true, padding: true, dilation: true, groups: true, isa: true } as const;

/** Validates and normalises the options (each as a pair); a name not in `known` is refused. */
export function conv2dParams(op: string, opts: Conv2dOptions, known: Readonly<Record<string, true>> = CONV2D_KEYS): Conv2dParams {
  check(opts !== null && typeof opts === 'object', 'EINVAL', op, () => `options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  checkOptions(op, opts, known);
  const groups = opts.groups ?? 1;
  check(Number.isInteger(groups) && groups >= 1, 'EINVAL', op, () => `'groups' must be an integer >= 1, got ${show(opts.groups)}`);
  check(opts.isa === undefined || ISAS.includes(opts.isa), 'EINVAL', op, () => `'isa' must be one of ${ISAS.join(', ')}`);
  return {
    stride: pair(op, 'stride', opts.stride, 1, 1),
    padding: pair(op, 'padding', opts.padding, 0, 0),
    dilation: pair(op, 'dilation', opts.dilation, 1, 1),
    groups,
    isa: opts.isa,
  };
}

/** Output spatial size; throws ESHAPE naming the shapes when the kernel does not fit. */
export function conv2dOutShape(op: string, x: readonly number[], w: readonly number[], p: Conv2dParams): number[] {
  const [N, C, H, W] = x;
  const [K, Cg, R, S] = w;
  check(C % p.groups === 0 && K % p.groups === 0, 'ESHAPE', op,
    () => `groups ${p.groups} must divide in-channels ${C} (x ${shapeStr(x)}) and out-channels ${K} (w ${shapeStr(w)})`);
  check(Cg === C / p.groups, 'ESHAPE', op, () => `w ${shapeStr(w)} must have C/groups = ${C / p.groups} input channels (x ${shapeStr(x)}, groups ${p.groups})`);
  const eh = H + 2 * p.padding[0] - p.dilation[0] * (R - 1) - 1;
  const ew = W + 2 * p.padding[1] - p.dilation[1] * (S - 1) - 1;
  check(R >= 1 && S >= 1 && eh >= 0 && ew >= 0, 'ESHAPE', op,
    () => `kernel ${R}x${S} (dilation ${p.dilation}) does not fit the padded input (x ${shapeStr(x)}, padding ${p.padding})`);
  return [N, K, Math.floor(eh / p.stride[0]) + 1, Math.floor(ew / p.stride[1]) + 1];
}

function attrs(p: Conv2dParams) {
  return { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups, ...(p.isa ? { isa: p.isa } : {}) };
}

/**
 * y = conv2d(x, w) + b, PyTorch semantics (symmetric zero padding, dilation, groups;
 * depthwise when groups = C).
 *   const y = conv2d(x, w, b, { stride: 2, padding: 1 });
 */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 4 });
  checkArg(op, 'w', w, { dtype: 'float32', ndim: 4 });
  if (b !== null) {
    checkArg(op, 'b', b, { dtype: 'float32', ndim: 1 });
    check(b.shape[0] === w.shape[0], 'ESHAPE', op, () => `b ${shapeStr(b.shape)} must have ${w.shape[0]} elements (w ${shapeStr(w.shape)})`);
  }
  const p = conv2dParams(op, opts);
  const yShape = conv2dOutShape(op, x.shape, w.shape, p);
  const inputs = b ? [x, w, b] : [x, w];
  const [y] = runOp(op, inputs, attrs(p), [{ shape: yShape }], b ? ['x', 'w', 'b'] : ['x', 'w']);
  record(op, [x, w, b], [y], ([g]) => [
    x.requiresGrad || x.node ? conv2dBwdData(g!, w, x.shape, p) : null,
    w.requiresGrad || w.node ? conv2dBwdFilter(g!, x, w.shape, p) : null,
    b && (b.requiresGrad || b.node) ? sum(g!, [0, 2, 3]) : null,
  ]);
  return y;
}

/**
 * dx = ∂(Σ dy·conv2d(x, w))/∂x for an input of shape xShape (the adjoint of conv2d in x).
 * Differentiable in dy (→ conv2d) and w (→ conv2d_bwd_filter).
 */
export function conv2dBwdData(dy: Tensor, w: Tensor, xShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d_bwd_data';
  checkArg(op, 'dy', dy, { dtype: 'float32', ndim: 4 });
  checkArg(op, 'w', w, { dtype: 'float32', ndim: 4 });
  check(Array.isArray(xShape) && xShape.length === 4 && xShape.every((d) => Number.isInteger(d) && d >= 0), 'EINVAL', op,
    () => `'xShape' must be 4 non-negative integers, got ${show(xShape)}`);
  const p = conv2dParams(op, opts);
  const yShape = conv2dOutShape(op, xShape, w.shape, p);
  check(yShape.every((d, i) => d === dy.shape[i]), 'ESHAPE', op,
    () => `dy ${shapeStr(dy.shape)} must have shape ${shapeStr(yShape)} for x ${shapeStr(xShape)} and w ${shapeStr(w.shape)}`);
  const [dx] = runOp(op, [dy, w], attrs(p), [{ shape: xShape }], ['dy', 'w']);
  record(op, [dy, w], [dx], ([g]) => [conv2d(g!, w, null, p), conv2dBwdFilter(dy, g!, w.shape, p)]);
  return dx;
}

/**
 * dw = ∂(Σ dy·conv2d(x, w))/∂w for a weight of shape wShape (the adjoint in w).
 * Differentiable in dy (→ conv2d) and x (→ conv2d_bwd_data).
 */
export function conv2dBwdFilter(dy: Tensor, x: Tensor, wShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d_bwd_filter';
  checkArg(op, 'dy', dy, { dtype: 'float32', ndim: 4 });
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 4 });
  check(Array.isArray(wShape) && wShape.length === 4 && wShape.every((d) => Number.isInteger(d) && d >= 0), 'EINVAL', op,
    () => `'wShape' must be 4 non-negative integers, got ${show(wShape)}`);
  const p = conv2dParams(op, opts);
  const yShape = conv2dOutShape(op, x.shape, wShape, p);
  check(yShape.every((d, i) => d === dy.shape[i]), 'ESHAPE', op,
    () => `dy ${shapeStr(dy.shape)} must have shape ${shapeStr(yShape)} for x ${shapeStr(x.shape)} and w ${shapeStr(wShape)}`);
  const [dw] = runOp(op, [dy, x], attrs(p), [{ shape: wShape }], ['dy', 'x']);
  record(op, [dy, x], [dw], ([g]) => [conv2d(x, g!, null, p), conv2dBwdData(dy, g!, x.shape, p)]);
  return dw;
}
