/**
 * Batch normalisation over the channels of [N, C, H, W] (or [N, C], BatchNorm1d), PyTorch
 * semantics (docs/ops.md "normalisation").
 */
import { record } from '../autograd/tape';
import { check, checkOptions } from '../errors';
import { empty, shapeStr, Tensor } from '../tensor';
import { fill_ } from './memory';
import { mul } from './elementwise';
import { checkArg, checkNumber, runOp, runOpInto } from './op';
import { sum } from './reduce';

export interface BatchNormOptions {
  /** training: normalise with the batch statistics and update the running ones in place */
  training: boolean;
  /** running ← (1 − momentum)·running + momentum·batch statistic (default 0.1) */
  momentum?: number;
  /** added to the variance (default 1e-5) */
  eps?: number;
}

const OP = 'batchnorm2d';
const BN_KEYS = { training: true, momentum: true, eps: true } as const;
const BN_ACT_KEYS = { act: true, residual: true, momentum: true, eps: true } as const;

/**
 * The momentum option, default 0.1. null is refused rather than read as absent: PyTorch's
 * momentum=None is a cumulative moving average (running ← running + (stat − running)/t),
 * which {momentum: null} silently replaced with 0.1.
 */
export function bnMomentum(op: string, v: unknown): number {
  check(v !== null, 'EINVAL', op, `'momentum' null (PyTorch's momentum=None, a cumulative moving average) is not supported: give a number in [0, 1]`);
  return checkNumber(op, 'momentum', v ?? 0.1, 0, 1);
}

/** Channel axes summed for the weight and bias gradients. */
const reduceAxes = (ndim: number) => (ndim === 4 ? [0, 2, 3] : [0]);

/**
 * y = (x − mean)/√(var + eps)·weight + bias per channel. Training mode uses the batch's
 * mean and biased variance and updates `runningMean`/`runningVar` in place (unbiased
 * variance, as PyTorch); eval mode uses the running statistics. Differentiable in x,
 * weight and bias in both modes (training: through the batch statistics).
 *
 *   const y = batchnorm2d(x, bn.param('weight'), bn.param('bias'), bn.buffer('running_mean'), bn.buffer('running_var'), { training: true });
 */
export function batchnorm2d(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, opts: BatchNormOptions): Tensor {
  checkArg(OP, 'x', x, { dtype: 'float32', ndim: [2, 4] });
  const C = x.shape[1];
  const perChannel: [string, Tensor][] = [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]];
  for (const [name, t] of perChannel) {
    checkArg(OP, name, t, { dtype: 'float32', ndim: 1 });
    check(t.shape[0] === C, 'ESHAPE', OP, () => `'${name}' must have shape [${C}] for x ${shapeStr(x.shape)}, got ${shapeStr(t.shape)}`);
    check(t.device === x.device, 'EDEVICE', OP, () => `'${name}' is on ${t.device}, x on ${x.device}`);
  }
  check(opts !== null && typeof opts === 'object' && typeof opts.training === 'boolean', 'EINVAL', OP, `opts.training must be a boolean`);
  checkOptions(OP, opts, BN_KEYS);
  const momentum = bnMomentum(OP, opts.momentum);
  const eps = checkNumber(OP, 'eps', opts.eps ?? 1e-5, 0);
  check(eps > 0, 'EINVAL', OP, () => `'eps' must be > 0, got ${eps}`);
  return opts.training ? train(x, weight, bias, runningMean, runningVar, momentum, eps) : evaluate(x, weight, bias, runningMean, runningVar, eps);
}

function train(x: Tensor, w: Tensor, b: Tensor, rm: Tensor, rv: Tensor, momentum: number, eps: number): Tensor {
  const C = x.shape[1];
  const perChannel = x.size / C;
  check(perChannel > 1, 'EINVAL', OP, () => `training needs more than 1 value per channel, got x ${shapeStr(x.shape)}`);
  const outs: Tensor[] = [];
  try {
    outs.push(empty(x.shape, 'float32', x.device), empty([C], 'float32', x.device), empty([C], 'float32', x.device));
    runOpInto('batchnorm_train', [x, w, b], [...outs, rm, rv], { eps, momentum });
  } catch (e) {
    for (const t of outs) t.dispose();
    throw e;
  }
  const [y, saveMean, saveInvstd] = outs;
  record(OP, [x, w, b], [y], ([g]) => runOp('batchnorm_bwd', [g!, x, w, saveMean, saveInvstd], {},
    [{ shape: x.shape }, { shape: [C] }, { shape: [C] }], ['dy', 'x', 'weight', 'save_mean', 'save_invstd']));
  // the saved statistics live as long as the graph needs them; without one they go now
  if (!y.node) {
    saveMean.dispose();
    saveInvstd.dispose();
  }
  return y;
}

function evaluate(x: Tensor, w: Tensor, b: Tensor, rm: Tensor, rv: Tensor, eps: number): Tensor {
  const [y] = runOp('batchnorm_eval', [x, w, b, rm, rv], { eps }, [{ shape: x.shape }], ['x', 'weight', 'bias', 'running_mean', 'running_var']);
  // The statistics are constants here, so the op is affine per channel with
  // a = w/√(rv+eps): dx = dy·a, dweight = Σ dy·x̂, dbias = Σ dy, x̂ = (x−rm)/√(rv+eps).
  // Both dx and x̂ are batchnorm_eval calls with unit/zero constants (no host round trip).
  record(OP, [x, w, b], [y], ([g]) => {
    const C = x.shape[1];
    const zero = fill_(empty([C], 'float32', x.device), 0);
    const one = fill_(empty([C], 'float32', x.device), 1);
    const needX = x.requiresGrad || x.node !== null;
    const needW = w.requiresGrad || w.node !== null;
    const ax = reduceAxes(x.ndim);
    const dx = needX ? runOp('batchnorm_eval', [g!, w, zero, zero, rv], { eps }, [{ shape: x.shape }])[0] : null;
    let dw: Tensor | null = null;
    if (needW) {
      const [xhat] = runOp('batchnorm_eval', [x, one, zero, rm, rv], { eps }, [{ shape: x.shape }]);
      const prod = mul(g!, xhat);
      dw = sum(prod, ax);
      xhat.dispose();
      prod.dispose();
    }
    const db = b.requiresGrad || b.node !== null ? sum(g!, ax) : null;
    zero.dispose();
    one.dispose();
    return [dx, dw, db];
  });
  return y;
}

export interface BatchNormActOptions {
  /** the activation after the normalisation (and the residual add) */
  act: 'relu' | 'relu6';
  /** added before the activation (a ResNet block's shortcut), shape of x */
  residual?: Tensor;
  momentum?: number;
  eps?: number;
}

/**
 * Training-mode batch normalisation fused with its activation, optionally after a residual
 * add: y = act(batchnorm2d(x) + residual), in one native call (batchnorm_act_train) with
 * the running statistics updated in place; the backward is one batchnorm_act_bwd. Equals
 * the unfused ops (test/ops/batchnorm_act.test.ts); the compiled step's fusion pass makes
 * the same rewrite on recorded graphs.
 *
 *   const y = batchnormAct(conv2(h), bn.param('weight'), bn.param('bias'), bn.buffer('running_mean'), bn.buffer('running_var'), { act: 'relu', residual: x });
 */
export function batchnormAct(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, opts: BatchNormActOptions): Tensor {
  const OPA = 'batchnormAct';
  checkArg(OPA, 'x', x, { dtype: 'float32', ndim: [2, 4] });
  const C = x.shape[1];
  for (const [name, t] of [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as [string, Tensor][]) {
    checkArg(OPA, name, t, { dtype: 'float32', ndim: 1 });
    check(t.shape[0] === C, 'ESHAPE', OPA, `'${name}' must have shape [${C}] for x ${shapeStr(x.shape)}, got ${shapeStr(t.shape)}`);
  }
  check(opts !== null && typeof opts === 'object' && (opts.act === 'relu' || opts.act === 'relu6'), 'EINVAL', OPA, `opts.act must be 'relu' or 'relu6'`);
  checkOptions(OPA, opts, BN_ACT_KEYS);
  const r = opts.residual;
  if (r !== undefined) {
    checkArg(OPA, 'residual', r, { dtype: 'float32' });
    check(r.shape.length === x.shape.length && r.shape.every((d, i) => d === x.shape[i]), 'ESHAPE', OPA,
      `'residual' must have the shape of x ${shapeStr(x.shape)}, got ${shapeStr(r.shape)}`);
  }
  const momentum = bnMomentum(OPA, opts.momentum);
  const eps = checkNumber(OPA, 'eps', opts.eps ?? 1e-5, 0);
  check(eps > 0, 'EINVAL', OPA, `'eps' must be > 0, got ${eps}`);
  check(x.size / C > 1, 'EINVAL', OPA, `training needs more than 1 value per channel, got x ${shapeStr(x.shape)}`);
  const outs: Tensor[] = [];
  try {
    outs.push(empty(x.shape, 'float32', x.device), empty([C], 'float32', x.device), empty([C], 'float32', x.device));
    runOpInto('batchnorm_act_train', r ? [x, weight, bias, r] : [x, weight, bias], [...outs, runningMean, runningVar], { eps, momentum, act: opts.act });
  } catch (e) {
    for (const t of outs) t.dispose();
    throw e;
  }
  const [y, saveMean, saveInvstd] = outs;
  const inputs = r ? [x, weight, bias, r] : [x, weight, bias];
  record(OPA, inputs, [y], ([g]) => {
    const o = runOp('batchnorm_act_bwd', [g!, y, x, weight, saveMean, saveInvstd], { act: opts.act },
      [{ shape: x.shape }, { shape: [C] }, { shape: [C] }, ...(r ? [{ shape: x.shape }] : [])], ['dy', 'y', 'x', 'weight', 'save_mean', 'save_invstd']);
    return o; // [dx, dweight, dbias(, dresidual = dz)]
  });
  if (!y.node) {
    saveMean.dispose();
    saveInvstd.dispose();
  }
  return y;
}
