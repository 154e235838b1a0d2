/**
 * ShuffleNet's channel shuffle: view N×C×H×W as N×g×(C/g)×H×W, swap the two channel
 * axes, flatten back. Its adjoint is the shuffle with C/g groups.
 *
 *   channelShuffle(x, 2)
 */
import { record } from '../autograd/tape';
import { check, show } from '../errors';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';

export function channelShuffle(x: Tensor, groups: number): Tensor {
  checkArg('channel_shuffle', 'x', x, { ndim: 4 });
  const C = x.shape[1];
  check(Number.isInteger(groups) && groups >= 1 && C % groups === 0, 'EINVAL', 'channel_shuffle',
    () => `'groups' must be a positive divisor of the ${C} channels, got ${show(groups)}`);
  const [y] = runOp('channel_shuffle', [x], { groups }, [{ shape: x.shape, dtype: x.dtype }], ['x']);
  record('channel_shuffle', [x], [y], ([dy]) => [channelShuffle(dy!, C === 0 ? 1 : C / groups)]);
  return y;
}
