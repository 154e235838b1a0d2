// Every op mdmt knows, one name each, grouped under a comment naming the op family (the
// stem of its files: native/ops/<family>.h, native/cpu/<family>.cc, ...). ts/ops/names.ts
// holds the same ops, families and order (test/ops/coverage.test.ts compares them).
// Backward kernels are ordinary ops of their forward's family.
#pragma once

#define MDMT_OP_NAMES(X)                                                                    \
  /* memory */ X(fill) X(copy) X(cast)                                                      \
  /* conv2d */ X(conv2d) X(conv2d_bwd_data) X(conv2d_bwd_filter) X(conv2d_act)              \
  X(winograd_weights)                                                                       \
  /* linear */ X(linear) X(matmul)                                                          \
  /* batchnorm */ X(batchnorm_train) X(batchnorm_eval) X(batchnorm_bwd)                     \
  X(batchnorm_act_train) X(batchnorm_act_bwd)                                               \
  /* activations */ X(relu) X(relu_bwd) X(relu6) X(relu6_bwd) X(silu) X(silu_bwd)           \
  X(sigmoid) X(sigmoid_bwd) X(hardswish) X(hardswish_bwd)                                    \
  /* elementwise */ X(add) X(sub) X(mul) X(affine) X(expand)                                \
  /* reduce */ X(sum) X(mean)                                                               \
  /* pool */ X(maxpool2d) X(maxpool2d_bwd) X(avgpool2d) X(avgpool2d_bwd) X(global_avgpool) \
  X(global_avgpool_bwd)                                                                     \
  /* layout */ X(concat) X(split) X(channel_shuffle) X(transpose) X(pad2d) X(pad2d_bwd)     \
  /* reorder */ X(reorder)                                                                  \
  /* dropout */ X(dropout) X(dropout_bwd)                                                   \
  /* masked_xent */ X(masked_xent_fwd_bwd)                                                  \
  /* optim */ X(adam) X(sgd)
