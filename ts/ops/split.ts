/**
 * Splits x along `axis` (default 1) into pieces of the given sizes (they add up to
 * x.shape[axis]). The inverse of concat; its vjp concatenates the pieces' gradients,
 * with zeros for pieces that received none.
 *
 *   const [a, b] = split(x, [16, 48]);
 */
import { record } from '../autograd/tape';
import { check, isList } from '../errors';
import { shapeStr, Tensor, zeros } from '../tensor';
import { checkArg, normAxis, runOp } from './op';

export function split(x: Tensor, sizes: readonly number[], axis = 1): Tensor[] {
  checkArg('split', 'x', x);
  check(x.ndim > 0, 'ESHAPE', 'split', () => `'x' must have at least 1 dim, got shape ${shapeStr(x.shape)}`);
  const ax = normAxis('split', axis, x.ndim);
  check(isList(sizes) && sizes.length > 0 && sizes.every((s) => Number.isInteger(s) && s >= 0), 'EINVAL', 'split',
    () => `'sizes' must be a non-empty array of non-negative integers, got ${JSON.stringify(sizes)}`);
  const total = sizes.reduce((a, b) => a + b, 0);
  check(total === x.shape[ax], 'ESHAPE', 'split', () => `'sizes' ${JSON.stringify(sizes)} add up to ${total}, but 'x' ${shapeStr(x.shape)} has ${x.shape[ax]} along axis ${ax}`);
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[ax] = s;
    return { shape, dtype: x.dtype };
  });
  const ys = runOp('split', [x], { axis: ax }, outs, ['x']);
  record('split', [x], ys, (gs) => {
    const parts = gs.map((g, i) => g ?? zeros(outs[i].shape, { device: x.device }));
    // the concat kernel through the runner, because concat's own vjp is a split (concat.ts
    // imports this file); a vjp records nothing anyway
    const [dx] = runOp('concat', parts, { axis: ax }, [{ shape: x.shape, dtype: x.dtype }], parts.map((_, i) => `xs[${i}]`));
    parts.forEach((p, i) => { if (p !== gs[i]) p.dispose(); });
    return [dx];
  });
  return ys;
}
