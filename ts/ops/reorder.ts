/**
 * The physical-layout conversion of plans (docs/ops.md "reorder"): y holds x's elements,
 * logical shape [N, C, H, W] unchanged, with its bytes rearranged from layout `from` to
 * layout `to` (and, on CUDA, converted to `dtype`). Layout passes insert it at the edges of a
 * region that runs in another layout (ts/plan/passes/nhwc.ts); a user's tensors are always
 * NCHW, so the result of reorder(x, 'nchw', 'nhwc') is only meaningful to a plan or a test
 * that reads its bytes. Not differentiable (a plan step, like cast).
 *
 *   const packed = reorder(x, 'nchw', 'nhwc');   // bytes of x.permute(0, 2, 3, 1)
 */
import { check } from '../errors';
import { DType } from '../native/binding';
import type { Layout } from '../plan/graph';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';

export const LAYOUTS: readonly Layout[] = ['nchw', 'nchw8c', 'nchw16c', 'nhwc'];

export function reorder(x: Tensor, from: Layout, to: Layout, dtype: DType = x.dtype): Tensor {
  checkArg('reorder', 'x', x, { ndim: 4 });
  for (const [k, v] of [['from', from], ['to', to]] as const)
    check(LAYOUTS.includes(v), 'EINVAL', 'reorder', `'${k}' must be one of ${LAYOUTS.join(' | ')}, got ${JSON.stringify(v)}`);
  const [y] = runOp('reorder', [x], { from, to }, [{ shape: x.shape, dtype }], ['x']);
  return y;
}
