/** Every op function, for `import { ops } from 'mdmt'`. */
export { add, sub, mul, affine, scale, expand } from './elementwise';
export { sum, mean } from './reduce';
export { reshape, flatten } from './reshape';
export { copy, clone, cast, fill_ } from './memory';
export { relu, relu6, silu, sigmoid, hardswish } from './activations';
export { conv2d } from './conv2d';
export { linear, matmul } from './linear';
export { batchnorm2d } from './batchnorm';
export { dropout } from './dropout';
export { maskedXent } from './masked_xent';
export { maxpool2d, avgpool2d, globalAvgpool } from './pool';
export { concat, split, channelShuffle, transpose, pad2d } from './layout';
