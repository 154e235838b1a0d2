/**
 * Convolution fused with its epilogue (docs/ops.md "convolution"):
 *   y = act(conv2d(x, w, b) + residual)
 * one op (conv2d_act) for inference graphs, where BatchNorm has been folded into w and b, the
 * residual add of a ResNet/MobileNet block and the activation (relu, relu6, silu, sigmoid,
 * hardswish, or none) run in the convolution's output loop, so each activation is written
 * once. The unfused reference is conv2d → add → the activation. Differentiable: the vjp is
 * the unfused one (the pre-activation is recomputed where the activation's backward reads it).
 *
 *   const y = conv2dAct(x, w, b, { padding: 1, act: 'relu', residual: identity });   // ResNet block end
 */
import { isGradEnabled, record } from '../autograd/tape';
import { check } from '../errors';
import { shapeStr, Tensor, zeros } from '../tensor';
import { CONV2D_KEYS, Conv2dOptions, conv2dBwdData, conv2dBwdFilter, conv2dOutShape, conv2dParams } from './conv2d';
import { checkArg, runOp } from './op';
import { sum } from './reduce';

export type ConvAct = 'relu' | 'relu6' | 'silu' | 'sigmoid' | 'hardswish' | 'none';
const ACTS: readonly ConvAct[] = ['relu', 'relu6', 'silu', 'sigmoid', 'hardswish', 'none'];
export type ConvAlgo = 'auto' | 'gemm' | 'winograd2' | 'winograd4' | 'stem' | 'depthwise';
const ALGOS: readonly ConvAlgo[] = ['auto', 'gemm', 'winograd2', 'winograd4', 'stem', 'depthwise'];
/** the backward op of each activation and whether it reads y or the pre-activation z */
const BWD: Record<Exclude<ConvAct, 'none'>, ['relu_bwd' | 'relu6_bwd' | 'silu_bwd' | 'sigmoid_bwd' | 'hardswish_bwd', 'y' | 'z']> = {
  relu: ['relu_bwd', 'y'], relu6: ['relu6_bwd', 'y'], silu: ['silu_bwd', 'z'], sigmoid: ['sigmoid_bwd', 'y'], hardswish: ['hardswish_bwd', 'z'],
};

const ACT_KEYS = { ...CONV2D_KEYS, act: true, residual: true, algo: true, tileBlock: true, winograd: true } as const;

export interface Conv2dActOptions extends Conv2dOptions {
  act: ConvAct;
  /** added before the activation; the output's shape */
  residual?: Tensor | null;
  /** @internal forces the CPU algorithm (tests); 'auto' picks per shape */
  algo?: ConvAlgo;
  /** @internal Winograd tiles per chunk (a multiple of 16; tests cross chunk boundaries) */
  tileBlock?: number;
  /**
   * w is `winogradWeights(w3x3, m)` — [(m+2)², K, C] — and F(m×m, 3×3) runs (CPU, 3×3 stride 1
   * only; inference plans transform their constant weights once). Takes no gradient.
   */
  winograd?: 2 | 4;
}

/** The Winograd F(m×m, 3×3) weight transform U = G g Gᵀ of w [K, C, 3, 3]: [(m+2)², K, C]. */
export function winogradWeights(w: Tensor, m: 2 | 4): Tensor {
  checkArg('winograd_weights', 'w', w, { dtype: 'float32', ndim: 4 });
  check(m === 2 || m === 4, 'EINVAL', 'winograd_weights', () => `'m' must be 2 or 4, got ${JSON.stringify(m)}`);
  check(w.shape[2] === 3 && w.shape[3] === 3, 'ESHAPE', 'winograd_weights', () => `w ${shapeStr(w.shape)} must be a 3x3 kernel`);
  return runOp('winograd_weights', [w], { m }, [{ shape: [(m + 2) ** 2, w.shape[0], w.shape[1]] }], ['w'])[0];
}

const wants = (t: Tensor | null) => t !== null && (t.requiresGrad || t.node !== null);

export function conv2dAct(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dActOptions): Tensor {
  const op = 'conv2d_act';
  check(opts !== null && typeof opts === 'object' && ACTS.includes(opts.act), 'EINVAL', op, () => `'act' must be one of ${ACTS.join(', ')}`);
  const { act, algo = 'auto', winograd: pre } = opts;
  const r = opts.residual ?? null;
  check(ALGOS.includes(algo), 'EINVAL', op, () => `'algo' must be one of ${ALGOS.join(', ')}, got ${JSON.stringify(opts.algo)}`);
  check(pre === undefined || pre === 2 || pre === 4, 'EINVAL', op, () => `'winograd' must be 2 or 4, got ${JSON.stringify(pre)}`);
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 4 });
  checkArg(op, pre ? 'U' : 'w', w, { dtype: 'float32', ndim: pre ? 3 : 4 });
  check(!pre || w.shape[0] === (pre + 2) ** 2, 'ESHAPE', op, () => `U ${shapeStr(w.shape)} must have ${((pre ?? 0) + 2) ** 2} rows (winograd ${pre})`);
  check(!pre || !isGradEnabled() || ![x, w, b, r].some(wants), 'EINVAL', op, 'pre-transformed Winograd weights (inference plans) support no gradient: use the 3x3 w');
  const wShape = pre ? [w.shape[1], w.shape[2], 3, 3] : w.shape;
  const p = conv2dParams(op, opts, ACT_KEYS);
  const yShape = conv2dOutShape(op, x.shape, wShape, p);
  if (b !== null) {
    checkArg(op, 'b', b, { dtype: 'float32', ndim: 1 });
    check(b.shape[0] === wShape[0], 'ESHAPE', op, () => `b ${shapeStr(b.shape)} must have ${wShape[0]} elements (w ${shapeStr(wShape)})`);
  }
  if (r !== null) {
    checkArg(op, 'residual', r, { dtype: 'float32', ndim: 4 });
    check(r.shape.every((d, i) => d === yShape[i]), 'ESHAPE', op, () => `residual ${shapeStr(r.shape)} must have the output's shape ${shapeStr(yShape)}`);
  }
  check(opts.tileBlock === undefined || (Number.isInteger(opts.tileBlock) && opts.tileBlock > 0 && opts.tileBlock % 16 === 0), 'EINVAL', op,
    () => `'tileBlock' must be a positive multiple of 16, got ${JSON.stringify(opts.tileBlock)}`);
  const attrs = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups, ...(p.isa ? { isa: p.isa } : {}),
    ...(algo !== 'auto' ? { algo } : {}), ...(opts.tileBlock ? { tile_block: opts.tileBlock } : {}), ...(pre ? { winograd: pre } : {}) };
  // inputs x, w[, b[, residual]]: a residual without a bias goes with zeros for b
  const fused = (a: ConvAct): Tensor => {
    const bias = b ?? (r ? zeros([wShape[0]], { device: x.device }) : null);
    try {
      const ins = r ? [x, w, bias!, r] : bias ? [x, w, bias] : [x, w];
      return runOp(op, ins, { ...attrs, act: a }, [{ shape: yShape }], ['x', pre ? 'U' : 'w', 'b', 'residual'].slice(0, ins.length))[0];
    } finally {
      if (!b) bias?.dispose();
    }
  };
  const y = fused(act);
  record(op, [x, w, b, r], [y], ([g]) => {
    const dz = preActGrad(g!, y, act, () => fused('none'));
    const grads = [
      wants(x) ? conv2dBwdData(dz, w, x.shape, p) : null,
      wants(w) ? conv2dBwdFilter(dz, x, w.shape, p) : null,
      b && wants(b) ? sum(dz, [0, 2, 3]) : null,
      r ? dz : null,
    ];
    if (!r && dz !== g) dz.dispose();
    return grads;
  });
  return y;
}

/** ∂L/∂z for z the pre-activation, from ∂L/∂y and y (or z, recomputed). relu6_bwd may read y: y ∈ (0, 6) exactly where z is. */
function preActGrad(dy: Tensor, y: Tensor, act: ConvAct, z: () => Tensor): Tensor {
  if (act === 'none') return dy;
  const [bwd, uses] = BWD[act];
  const t = uses === 'z' ? z() : y;
  try {
    return runOp(bwd, [dy, t], {}, [{ shape: dy.shape }], ['dy', uses === 'z' ? 'x' : 'y'])[0];
  } finally {
    if (t !== y) t.dispose();
  }
}
