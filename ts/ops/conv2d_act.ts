/**
 * conv2d with its epilogue fused: y = act(conv2d(x, w) + b + r), where b is a per-channel
 * bias (a folded BatchNorm), r an optional residual shaped like y, and act one of none,
 * relu, relu6, silu, sigmoid. The unfused reference is conv2d → add → the activation; an
 * inference plan uses this op so each activation is written once. The backward is the
 * unfused one (the pre-activation is recomputed for silu, whose derivative needs it).
 *
 *   const y = conv2dAct(x, w, b, residual, { padding: 1, act: 'relu' });   // ResNet block end
 */
import { isGradEnabled, record } from '../autograd/tape';
import { check } from '../errors';
import { shapeStr, Tensor, zeros } from '../tensor';
import { Conv2dOptions, conv2dBwdData, conv2dBwdFilter, conv2dOutShape, conv2dParams } from './conv2d';
import { checkArg, runOp } from './op';
import { sum } from './sum';

export type EpilogueAct = 'none' | 'relu' | 'relu6' | 'silu' | 'sigmoid';
const ACTS: readonly EpilogueAct[] = ['none', 'relu', 'relu6', 'silu', 'sigmoid'];
export type ConvAlgo = 'auto' | 'gemm' | 'winograd2' | 'winograd4' | 'stem' | 'depthwise';
const ALGOS: readonly ConvAlgo[] = ['auto', 'gemm', 'winograd2', 'winograd4', 'stem', 'depthwise'];

export interface Conv2dActOptions extends Conv2dOptions {
  act?: EpilogueAct;
  /** @internal forces the CPU algorithm (tests); 'auto' picks per shape */
  algo?: ConvAlgo;
  /** @internal Winograd tiles per chunk (a multiple of 16; tests cross chunk boundaries) */
  tileBlock?: number;
  /**
   * w is `winogradWeights(w3x3, m)` — [(m+2)², K, C] — and F(m×m, 3×3) runs (3×3 stride 1 only;
   * inference plans transform their constant weights once). No gradient flows to such a w.
   */
  winograd?: 2 | 4;
}

/** The Winograd F(m×m, 3×3) weight transform U = G g Gᵀ of w [K, C, 3, 3]: [(m+2)², K, C]. */
export function winogradWeights(w: Tensor, m: 2 | 4): Tensor {
  checkArg('winograd_weights', 'w', w, { dtype: 'float32', ndim: 4 });
  check(m === 2 || m === 4, 'EINVAL', 'winograd_weights', `'m' must be 2 or 4, got ${JSON.stringify(m)}`);
  check(w.shape[2] === 3 && w.shape[3] === 3, 'ESHAPE', 'winograd_weights', `w ${shapeStr(w.shape)} must be a 3x3 kernel`);
  return runOp('winograd_weights', [w], { m }, [{ shape: [(m + 2) ** 2, w.shape[0], w.shape[1]] }], ['w'])[0];
}

export function conv2dAct(x: Tensor, w: Tensor, b: Tensor | null, r: Tensor | null, opts: Conv2dActOptions = {}): Tensor {
  const op = 'conv2d_act';
  checkArg(op, 'x', x, { dtype: 'float32', ndim: 4 });
  const pre = opts.winograd;
  check(pre === undefined || pre === 2 || pre === 4, 'EINVAL', op, `'winograd' must be 2 or 4, got ${JSON.stringify(pre)}`);
  checkArg(op, pre ? 'U' : 'w', w, { dtype: 'float32', ndim: pre ? 3 : 4 });
  check(!pre || w.shape[0] === (pre + 2) ** 2, 'ESHAPE', op, `U ${shapeStr(w.shape)} must have ${((pre ?? 0) + 2) ** 2} rows (winograd ${pre})`);
  const wants = (t: Tensor | null) => t !== null && (t.requiresGrad || t.node !== null);
  check(!pre || !isGradEnabled() || ![x, w, b, r].some(wants), 'EINVAL', op, 'pre-transformed Winograd weights (inference plans) support no gradient: use the 3x3 w');
  const wShape = pre ? [w.shape[1], w.shape[2], 3, 3] : w.shape;
  const act = opts.act ?? 'none', algo = opts.algo ?? 'auto';
  check(ACTS.includes(act), 'EINVAL', op, `'act' must be one of ${ACTS.join(', ')}, got ${JSON.stringify(opts.act)}`);
  check(ALGOS.includes(algo), 'EINVAL', op, `'algo' must be one of ${ALGOS.join(', ')}, got ${JSON.stringify(opts.algo)}`);
  const p = conv2dParams(op, opts);
  const yShape = conv2dOutShape(op, x.shape, wShape, p);
  if (b !== null) {
    checkArg(op, 'b', b, { dtype: 'float32', ndim: 1 });
    check(b.shape[0] === wShape[0], 'ESHAPE', op, `b ${shapeStr(b.shape)} must have ${wShape[0]} elements (w ${shapeStr(wShape)})`);
  }
  if (r !== null) {
    checkArg(op, 'r', r, { dtype: 'float32', ndim: 4 });
    check(r.shape.every((d, i) => d === yShape[i]), 'ESHAPE', op, `r ${shapeStr(r.shape)} must have the output's shape ${shapeStr(yShape)}`);
  }
  check(opts.tileBlock === undefined || (Number.isInteger(opts.tileBlock) && opts.tileBlock > 0 && opts.tileBlock % 16 === 0), 'EINVAL', op,
    `'tileBlock' must be a positive multiple of 16, got ${JSON.stringify(opts.tileBlock)}`);
  const attrs = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups, algo, ...(p.isa ? { isa: p.isa } : {}),
    ...(opts.tileBlock ? { tile_block: opts.tileBlock } : {}), ...(pre ? { winograd: pre } : {}) };
  // the native op takes a bias always: zeros stand in for none
  const fused = (a: EpilogueAct): Tensor => {
    const bias = b ?? zeros([wShape[0]], { device: x.device });
    try {
      return runOp(op, r ? [x, w, bias, r] : [x, w, bias], { ...attrs, act: a }, [{ shape: yShape }], r ? ['x', 'w', 'b', 'r'] : ['x', 'w', 'b'])[0];
    } finally {
      if (!b) bias.dispose();
    }
  };
  const y = fused(act);
  record(op, [x, w, b, r], [y], ([g]) => {
    const dz = preActGrad(g!, y, act, () => fused('none'));
    const grads = [
      x.requiresGrad || x.node ? conv2dBwdData(dz, w, x.shape, p) : null,
      w.requiresGrad || w.node ? conv2dBwdFilter(dz, x, w.shape, p) : null,
      b && (b.requiresGrad || b.node) ? sum(dz, [0, 2, 3]) : null,
      r ? dz : null,
    ];
    if (!r && dz !== g) dz.dispose();
    return grads;
  });
  return y;
}

/** ∂L/∂z for z the pre-activation, from ∂L/∂y and y (or z, recomputed, for silu). */
function preActGrad(dy: Tensor, y: Tensor, act: EpilogueAct, z: () => Tensor): Tensor {
  const one = (bwd: 'relu_bwd' | 'relu6_bwd' | 'sigmoid_bwd' | 'silu_bwd', t: Tensor) => runOp(bwd, [dy, t], {}, [{ shape: dy.shape }])[0];
  switch (act) {
    case 'relu': return one('relu_bwd', y);
    case 'relu6': return one('relu6_bwd', y); // y ∈ (0, 6) exactly where z is
    case 'sigmoid': return one('sigmoid_bwd', y);
    case 'silu': {
      const zt = z();
      try {
        return one('silu_bwd', zt);
      } finally {
        zt.dispose();
      }
    }
    default: return dy;
  }
}
