/**
 * Every op mdmt knows, with its family. The family is the unit of the one-stem rule: a
 * family F has ts/ops/F.ts, the native contract native/ops/F.{h,cc}, native/cpu/F.cc,
 * native/cuda/F.cc, the float64 reference test/ref/F.ts and test/ops/F.test.ts
 * (test/ops/coverage.test.ts checks them and the exclusions it lists). Backward kernels
 * are ordinary ops of their forward's family. native/core/op_names.h lists the same ops
 * in the same order under the same family comments (the coverage test compares them).
 */
export const OP_FAMILY = {
  fill: 'memory',
  copy: 'memory',
  cast: 'memory',
  conv2d: 'conv2d',
  conv2d_bwd_data: 'conv2d',
  conv2d_bwd_filter: 'conv2d',
  conv2d_act: 'conv2d',
  winograd_weights: 'conv2d',
  linear: 'linear',
  matmul: 'linear',
  batchnorm_train: 'batchnorm',
  batchnorm_eval: 'batchnorm',
  batchnorm_bwd: 'batchnorm',
  batchnorm_act_train: 'batchnorm',
  batchnorm_act_bwd: 'batchnorm',
  relu: 'activations',
  relu_bwd: 'activations',
  relu6: 'activations',
  relu6_bwd: 'activations',
  silu: 'activations',
  silu_bwd: 'activations',
  sigmoid: 'activations',
  sigmoid_bwd: 'activations',
  hardswish: 'activations',
  hardswish_bwd: 'activations',
  add: 'elementwise',
  sub: 'elementwise',
  mul: 'elementwise',
  affine: 'elementwise',
  expand: 'elementwise',
  sum: 'reduce',
  mean: 'reduce',
  maxpool2d: 'pool',
  maxpool2d_bwd: 'pool',
  avgpool2d: 'pool',
  avgpool2d_bwd: 'pool',
  global_avgpool: 'pool',
  global_avgpool_bwd: 'pool',
  concat: 'layout',
  split: 'layout',
  channel_shuffle: 'layout',
  transpose: 'layout',
  pad2d: 'layout',
  pad2d_bwd: 'layout',
  reorder: 'reorder',
  dropout: 'dropout',
  dropout_bwd: 'dropout',
  masked_xent_fwd_bwd: 'masked_xent',
  adam: 'optim',
  sgd: 'optim',
} as const;

export type OpName = keyof typeof OP_FAMILY;
export type OpFamily = (typeof OP_FAMILY)[OpName];

/** The op names in order (families together). */
export const OP_NAMES: readonly OpName[] = Object.keys(OP_FAMILY) as OpName[];

/** The families in order of their first op. */
export const OP_FAMILIES: readonly OpFamily[] = [...new Set(Object.values(OP_FAMILY))];

export function isOpName(s: string): s is OpName {
  return Object.prototype.hasOwnProperty.call(OP_FAMILY, s);
}

/** The ops of one family, in order. */
export function familyOps(family: OpFamily): OpName[] {
  return OP_NAMES.filter((op) => OP_FAMILY[op] === family);
}
