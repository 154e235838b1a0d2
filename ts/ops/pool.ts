/**
 * The pool family (docs/ops.md "pool"): 2-D max and average pooling, PyTorch
 * `F.max_pool2d` / `F.avg_pool2d` (dilation 1), and the global average pool.
 *
 * Output size per spatial dim: ⌊(H + 2p − k + (ceilMode ? s − 1 : 0)) / s⌋ + 1, minus one
 * when ceilMode would start the last window beyond the input and its left padding. Max
 * pooling's argmax indices (int32, flat h·W + w within each plane) are computed only when
 * a gradient is recorded (the op's second output is optional). Average pooling divides by
 * the window clipped to input+padding when countIncludePad (default), else by the part of
 * the window inside the input (so ceil_mode's edge windows divide by less).
 *
 *   maxpool2d(x, { kernel: 3, stride: 2, padding: 1 })        // ResNet stem
 *   maxpool2d(x, { kernel: 3, stride: 2, ceilMode: true })    // GoogLeNet
 *   avgpool2d(x, { kernel: 2, stride: 2 })                    // DenseNet transition
 *   globalAvgpool(x)                                          // N×C×H×W → N×C×1×1
 */
import { isGradEnabled, record } from '../autograd/tape';
import { check, checkOptions } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, pair, runOp } from './op';

export interface Pool2dOptions {
  kernel: number | readonly [number, number];
  /** default: kernel */
  stride?: number | readonly [number, number];
  /** implicit padding on both sides (≤ kernel/2), default 0 */
  padding?: number | readonly [number, number];
  /** round the output size up (default false) */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** count padded zeros in the divisor (default true, as PyTorch) */
  countIncludePad?: boolean;
}

/** Resolved pooling geometry: kernel, stride, padding, ceil_mode and the output shape. */
export interface Pool2dGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  outShape: number[];
}

/** PyTorch's pooling_output_shape (dilation 1). */
export function poolOutSize(size: number, k: number, s: number, p: number, ceilMode: boolean): number {
  let o = Math.floor((size + 2 * p - (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (o - 1) * s >= size + p) o--;
  return o;
}

function pairArg(op: string, name: string, v: unknown, def: number, min: number): [number, number] {
  check(v === undefined || typeof v === 'number' || Array.isArray(v), 'EINVAL', op,
    () => `'${name}' must be an integer >= ${min} or a pair of them, got ${v === null ? 'null' : typeof v}`);
  return pair(op, name, v as number | number[] | undefined, def, min);
}

/** Validates the options against x (4-D float32) and infers the output shape. */
export const POOL_KEYS = { kernel: true, stride: true, padding: true, ceilMode: true } as const;
export const AVGPOOL_KEYS = { ...POOL_KEYS, countIncludePad: true } as const;

/** The options' own checks (no input needed): nn.MaxPool2d / AvgPool2d run them when constructed. */
export function poolParams(op: string, opts: Pool2dOptions, known: Readonly<Record<string, true>> = POOL_KEYS): Omit<Pool2dGeometry, 'outShape'> {
  check(opts !== null && typeof opts === 'object', 'EINVAL', op, () => `options must be an object { kernel, stride?, padding?, ceilMode? }, got ${opts === null ? 'null' : typeof opts}`);
  checkOptions(op, opts, known);
  check(opts.kernel !== undefined, 'EINVAL', op, "'kernel' is required");
  const kernel = pairArg(op, 'kernel', opts.kernel, 0, 1);
  const stride = opts.stride === undefined ? kernel : pairArg(op, 'stride', opts.stride, 0, 1);
  const padding = pairArg(op, 'padding', opts.padding, 0, 0);
  const ceilMode = opts.ceilMode ?? false;
  check(typeof ceilMode === 'boolean', 'EINVAL', op, () => `'ceilMode' must be a boolean, got ${typeof ceilMode}`);
  for (const i of [0, 1])
    check(2 * padding[i] <= kernel[i], 'EINVAL', op, () => `'padding' ${JSON.stringify(padding)} must be at most half of 'kernel' ${JSON.stringify(kernel)}`);
  return { kernel, stride, padding, ceilMode };
}

export function poolGeometry(op: string, x: Tensor, opts: Pool2dOptions, known: Readonly<Record<string, true>> = POOL_KEYS): Pool2dGeometry {
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 4 });
  const { kernel, stride, padding, ceilMode } = poolParams(op, opts, known);
  const [N, C, H, W] = x.shape;
  check(H > 0 && W > 0, 'ESHAPE', op, () => `'x' ${shapeStr(x.shape)} has an empty H×W plane`);
  const P = poolOutSize(H, kernel[0], stride[0], padding[0], ceilMode);
  const Q = poolOutSize(W, kernel[1], stride[1], padding[1], ceilMode);
  check(P >= 1 && Q >= 1, 'ESHAPE', op,
    () => `'x' ${shapeStr(x.shape)} is too small for kernel ${JSON.stringify(kernel)} with padding ${JSON.stringify(padding)}: output would be ${P}×${Q}`);
  return { kernel, stride, padding, ceilMode, outShape: [N, C, P, Q] };
}

export function maxpool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  const g = poolGeometry('maxpool2d', x, opts);
  const attrs = { kernel: g.kernel, stride: g.stride, padding: g.padding, ceil_mode: g.ceilMode };
  // no gradient will be recorded (eval, noGrad): ask for the values only, so the kernel
  // neither computes nor writes the argmax
  if (!isGradEnabled() || (!x.requiresGrad && x.node === null)) return runOp('maxpool2d', [x], attrs, [{ shape: g.outShape }], ['x'])[0];
  const [y, indices] = runOp('maxpool2d', [x], attrs, [{ shape: g.outShape }, { shape: g.outShape, dtype: 'int32' }], ['x']);
  record('maxpool2d', [x], [y], ([dy]) => {
    const [dx] = runOp('maxpool2d_bwd', [dy!, indices], {}, [{ shape: x.shape }], ['dy', 'indices']);
    return [dx];
  });
  return y;
}

export function avgpool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = poolGeometry('avgpool2d', x, opts, AVGPOOL_KEYS);
  const countIncludePad = opts.countIncludePad ?? true;
  check(typeof countIncludePad === 'boolean', 'EINVAL', 'avgpool2d', () => `'countIncludePad' must be a boolean, got ${typeof countIncludePad}`);
  const attrs = { kernel: g.kernel, stride: g.stride, padding: g.padding, ceil_mode: g.ceilMode, count_include_pad: countIncludePad };
  const [y] = runOp('avgpool2d', [x], attrs, [{ shape: g.outShape }], ['x']);
  record('avgpool2d', [x], [y], ([dy]) => runOp('avgpool2d_bwd', [dy!], attrs, [{ shape: x.shape }], ['dy']));
  return y;
}

/** Mean over H and W: N×C×H×W → N×C×1×1 (the classifier input of every backbone). `globalAvgpool(x)` */
export function globalAvgpool(x: Tensor): Tensor {
  checkArg('global_avgpool', 'x', x, { dtype: 'float32', ndim: 4 });
  const [N, C, H, W] = x.shape;
  check(H * W > 0, 'ESHAPE', 'global_avgpool', () => `'x' ${shapeStr(x.shape)} has an empty H×W plane`);
  const [y] = runOp('global_avgpool', [x], {}, [{ shape: [N, C, 1, 1] }], ['x']);
  record('global_avgpool', [x], [y], ([dy]) => runOp('global_avgpool_bwd', [dy!], {}, [{ shape: x.shape }], ['dy']));
  return y;
}
