/**
 * Convolution fused with its activation (docs/ops.md "convolution"): y = act(conv2d(x, w, b)),
 * one op (conv2d_act) for inference graphs, where BatchNorm has been folded into w and b and
 * the convolution's output feeds only the activation (ts/plan/passes/fuse_conv_act.ts makes
 * this rewrite). Differentiable: the vjp recomputes the pre-activation (the op keeps only y).
 *
 *   const y = conv2dAct(x, w, b, { padding: 1, act: 'relu' });
 */
import { record } from '../autograd/tape';
import { check } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { conv2d, conv2dBwdData, conv2dBwdFilter, Conv2dOptions, conv2dOutShape, conv2dParams } from './conv2d';
import { checkArg, runOp } from './op';
import { sum } from './sum';

export type ConvAct = 'relu' | 'relu6' | 'silu' | 'sigmoid' | 'hardswish';
const ACTS: readonly ConvAct[] = ['relu', 'relu6', 'silu', 'sigmoid', 'hardswish'];
/** the backward op of each activation and the tensor it reads (docs/ops.md "activations") */
const BWD: Record<ConvAct, ['relu_bwd' | 'relu6_bwd' | 'silu_bwd' | 'sigmoid_bwd' | 'hardswish_bwd', 'y' | 'x']> = {
  relu: ['relu_bwd', 'y'], relu6: ['relu6_bwd', 'x'], silu: ['silu_bwd', 'x'], sigmoid: ['sigmoid_bwd', 'y'], hardswish: ['hardswish_bwd', 'x'],
};

export function conv2dAct(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions & { act: ConvAct }): Tensor {
  const op = 'conv2d_act';
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 4 });
  checkArg(op, 'w', w, { dtype: 'float32', ndim: 4 });
  if (b !== null) {
    checkArg(op, 'b', b, { dtype: 'float32', ndim: 1 });
    check(b.shape[0] === w.shape[0], 'ESHAPE', op, `b ${shapeStr(b.shape)} must have ${w.shape[0]} elements (w ${shapeStr(w.shape)})`);
  }
  check(opts !== null && typeof opts === 'object' && ACTS.includes(opts.act), 'EINVAL', op, `'act' must be one of ${ACTS.join(', ')}`);
  const p = conv2dParams(op, opts);
  const yShape = conv2dOutShape(op, x.shape, w.shape, p);
  const attrs = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups, ...(p.isa ? { isa: p.isa } : {}), act: opts.act };
  const [y] = runOp(op, b ? [x, w, b] : [x, w], attrs, [{ shape: yShape }], b ? ['x', 'w', 'b'] : ['x', 'w']);
  record(op, [x, w, b], [y], ([g]) => {
    const [bwd, uses] = BWD[opts.act];
    const z = uses === 'x' ? conv2d(x, w, b, p) : null;
    const [dz] = runOp(bwd, [g!, z ?? y], {}, [{ shape: yShape }], ['dy', uses]);
    z?.dispose();
    const r = [
      x.requiresGrad || x.node ? conv2dBwdData(dz, w, x.shape, p) : null,
      w.requiresGrad || w.node ? conv2dBwdFilter(dz, x, w.shape, p) : null,
      b && (b.requiresGrad || b.node) ? sum(dz, [0, 2, 3]) : null,
    ];
    dz.dispose();
    return r;
  });
  return y;
}
