// Every op mdmt knows, one name each; ts/ops/names.ts holds the same list (a test compares
// them). Backward kernels are ordinary ops. Keep both lists sorted by family.
#pragma once

#define MDMT_OP_NAMES(X)                                                          \
  /* memory */ X(fill) X(copy) X(cast)                                            \
  /* convolution and dense */ X(conv2d) X(conv2d_bwd_data) X(conv2d_bwd_filter)   \
  X(linear) X(matmul)                                                             \
  /* normalisation */ X(batchnorm_train) X(batchnorm_eval) X(batchnorm_bwd)       \
  /* activations */ X(relu) X(relu_bwd) X(relu6) X(relu6_bwd) X(silu) X(silu_bwd) \
  X(sigmoid) X(sigmoid_bwd) X(hardswish) X(hardswish_bwd)                          \
  /* elementwise, broadcasting */ X(add) X(sub) X(mul) X(affine)                  \
  /* reductions */ X(sum) X(mean) X(expand)                                       \
  /* pooling */ X(maxpool2d) X(maxpool2d_bwd) X(avgpool2d) X(avgpool2d_bwd)       \
  X(global_avgpool) X(global_avgpool_bwd)                                         \
  /* layout */ X(concat) X(split) X(channel_shuffle) X(transpose) X(pad2d)         \
  X(pad2d_bwd)                                                                    \
  /* regularisation */ X(dropout) X(dropout_bwd)                                  \
  /* loss */ X(masked_xent_fwd_bwd)                                               \
  /* optimisers */ X(adam) X(sgd)
