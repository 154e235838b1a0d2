/**
 * 2-D average pooling, PyTorch `F.avg_pool2d`: output sizes as maxpool2d; the divisor is
 * the window clipped to input+padding when countIncludePad (default), else the part of
 * the window inside the input (so ceil_mode's edge windows divide by less).
 *
 *   avgpool2d(x, { kernel: 2, stride: 2 })     // DenseNet transition
 */
import { record } from '../autograd/tape';
import { check } from '../errors';
import { Tensor } from '../tensor';
import { Pool2dOptions, poolGeometry } from './maxpool2d';
import { runOp } from './op';

export interface AvgPool2dOptions extends Pool2dOptions {
  /** count padded zeros in the divisor (default true, as PyTorch) */
  countIncludePad?: boolean;
}

export function avgpool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = poolGeometry('avgpool2d', x, opts);
  const countIncludePad = opts.countIncludePad ?? true;
  check(typeof countIncludePad === 'boolean', 'EINVAL', 'avgpool2d', () => `'countIncludePad' must be a boolean, got ${typeof countIncludePad}`);
  const attrs = { kernel: g.kernel, stride: g.stride, padding: g.padding, ceil_mode: g.ceilMode, count_include_pad: countIncludePad };
  const [y] = runOp('avgpool2d', [x], attrs, [{ shape: g.outShape }], ['x']);
  record('avgpool2d', [x], [y], ([dy]) => runOp('avgpool2d_bwd', [dy!], attrs, [{ shape: x.shape }], ['dy']));
  return y;
}
