/** Mean over H and W: N×C×H×W → N×C×1×1 (the classifier input of every backbone). `globalAvgpool(x)` */
import { record } from '../autograd/tape';
import { check } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, runOp } from './op';

export function globalAvgpool(x: Tensor): Tensor {
  checkArg('global_avgpool', 'x', x, { dtype: 'float32', ndim: 4 });
  const [N, C, H, W] = x.shape;
  check(H * W > 0, 'ESHAPE', 'global_avgpool', () => `'x' ${shapeStr(x.shape)} has an empty H×W plane`);
  const [y] = runOp('global_avgpool', [x], {}, [{ shape: [N, C, 1, 1] }], ['x']);
  record('global_avgpool', [x], [y], ([dy]) => runOp('global_avgpool_bwd', [dy!], {}, [{ shape: x.shape }], ['dy']));
  return y;
}
