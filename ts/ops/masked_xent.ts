/**
 * The indicator-masked cross-entropy of the paper (Eq. 2; docs/ops.md "loss"): one fused
 * native call gives the loss and dlogits; the vjp scales the saved dlogits.
 */
import { record } from '../autograd/tape';
import { check, checkOptions, show } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { mul } from './elementwise';
import { checkArg, runOp } from './op';

const XENT_KEYS = { normalize: true } as const;

export interface MaskedXentOptions {
  /** divide by the batch size N ('batch', the authors' code, default) or by the active rows ('masked') */
  normalize?: 'batch' | 'masked';
}

const OP = 'maskedXent';

/**
 * loss = Σᵢ maskᵢ·(logsumexp(logitsᵢ) − logitsᵢ,labelsᵢ) / D, a scalar (shape []).
 * logits [N, C] float32, labels [N] int32 (masked-out rows may hold −1), mask [N] float32
 * of 0/1. D = N or max(Σ mask, 1); N = 0 throws. An active row's label outside [0, C) throws.
 *
 *   const loss = add(maskedXent(afcLogits, afcLabels, isAfc), maskedXent(bxLogits, bxLabels, isBx));
 */
export function maskedXent(logits: Tensor, labels: Tensor, mask: Tensor, opts: MaskedXentOptions = {}): Tensor {
  checkArg(OP, 'logits', logits, { dtype: 'float32', ndim: 2 });
  checkArg(OP, 'labels', labels, { dtype: 'int32', ndim: 1 });
  checkArg(OP, 'mask', mask, { dtype: 'float32', ndim: 1 });
  const [N, C] = logits.shape;
  check(labels.shape[0] === N, 'ESHAPE', OP, () => `'labels' must have shape [${N}] for logits ${shapeStr(logits.shape)}, got ${shapeStr(labels.shape)}`);
  check(mask.shape[0] === N, 'ESHAPE', OP, () => `'mask' must have shape [${N}] for logits ${shapeStr(logits.shape)}, got ${shapeStr(mask.shape)}`);
  check(C >= 1, 'ESHAPE', OP, () => `'logits' needs at least one class, got ${shapeStr(logits.shape)}`);
  check(N >= 1, 'ESHAPE', OP, () => `'logits' has no rows, got ${shapeStr(logits.shape)}: the loss of an empty batch is 0/0`);
  check(opts !== null && typeof opts === 'object', 'EINVAL', OP, 'opts must be an object');
  checkOptions(OP, opts, XENT_KEYS);
  const normalize = opts.normalize ?? 'batch';
  check(normalize === 'batch' || normalize === 'masked', 'EINVAL', OP, () => `'normalize' must be 'batch' or 'masked', got ${show(opts.normalize)}`);
  const [loss, dlogits] = runOp('masked_xent_fwd_bwd', [logits, labels, mask], { normalize },
    [{ shape: [] }, { shape: [N, C] }], ['logits', 'labels', 'mask']);
  // d loss/d logits is already computed; the incoming gradient is a scalar factor
  record(OP, [logits], [loss], ([g]) => [mul(dlogits, g!)]);
  if (!loss.node) dlogits.dispose();
  return loss;
}
