// The part of cuDNN 9's C API that mdmt calls, declared here from NVIDIA's documented API so
// that the CUDA backend compiles without cuDNN's headers and opens libcudnn.so.9 at run time
// (dynload/loader.cc). Call sites keep NVIDIA's names: each function below is an inline
// wrapper that forwards to the table the loader filled, or throws EDEVICE naming what is
// missing when cuDNN was not found. To call another cuDNN function, add one X(...) line with
// its documented signature (and verify every enum value you add, as below).
//
// Where the numbers come from. A wrong enum value or struct layout compiles, runs and computes
// garbage on the GPU, so every value and layout here was checked against two sources:
//   [H] NVIDIA's cuDNN 9.6.0 headers cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h (the toolkit copy
//       in github.com/zspace/system.cuda-12.6, include/), read line by line;
//   [D] NVIDIA's cuDNN 9 API reference (docs.nvidia.com/deeplearning/cudnn/latest/api/, the
//       "cudnn_cnn Library" struct types: member order of the perf structs);
//   [B] independent copies with explicit numbers: bindgen output of NVIDIA's headers (docs.rs
//       cudarc cudnn::sys, rcudnn-sys) and cuDNN 7/8 cudnn.h copies vendored in public repos;
//       all agree with [H] for every value below.
// cuDNN keeps enum values stable within a major version (the soname is libcudnn.so.9).
#pragma once
#include <cuda_runtime_api.h>  // cudaStream_t (the driver's CUstream, shared with cuDNN)

#include <cstddef>
#include <cstdint>

#include "table.h"

// ---- handles and descriptors: opaque pointers [H cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h]
struct cudnnContext;
typedef struct cudnnContext* cudnnHandle_t;
struct cudnnTensorStruct;
typedef struct cudnnTensorStruct* cudnnTensorDescriptor_t;
struct cudnnFilterStruct;
typedef struct cudnnFilterStruct* cudnnFilterDescriptor_t;
struct cudnnConvolutionStruct;
typedef struct cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;

// Enums get a fixed `int` underlying type: the C enums of the headers are int-sized, and a
// fixed type makes every status value the library returns a valid value of the enum.

// cudnnStatus_t [H cudnn_graph.h; B]: success is 0 (errors are 1000+ in cuDNN 9; their text
// comes from cudnnGetErrorString, so no other value is named here).
enum cudnnStatus_t : int { CUDNN_STATUS_SUCCESS = 0 };

// cudnnDataType_t [H cudnn_graph.h: FLOAT 0, DOUBLE 1, HALF 2, ..., BFLOAT16 9; B cudarc].
enum cudnnDataType_t : int { CUDNN_DATA_FLOAT = 0, CUDNN_DATA_DOUBLE = 1, CUDNN_DATA_HALF = 2, CUDNN_DATA_BFLOAT16 = 9 };

// cudnnTensorFormat_t [H cudnn_graph.h: NCHW 0, NHWC 1; B].
enum cudnnTensorFormat_t : int { CUDNN_TENSOR_NCHW = 0, CUDNN_TENSOR_NHWC = 1 };

// cudnnConvolutionMode_t [H cudnn_graph.h: CONVOLUTION 0, CROSS_CORRELATION 1; B].
enum cudnnConvolutionMode_t : int { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 };

// cudnnMathType_t [H cudnn_graph.h: 0..3 in this order; B rcudnn, cuDNN 8 cudnn.h].
enum cudnnMathType_t : int {
  CUDNN_DEFAULT_MATH = 0,
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3,
};

// cudnnDeterminism_t [H cudnn_ops.h: NON_DETERMINISTIC 0, DETERMINISTIC 1; B cuDNN 7/8 cudnn.h].
enum cudnnDeterminism_t : int { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 };

// Algorithm ids: mdmt stores the id cudnnFind*Ex chose and passes it back, never names one.
enum cudnnConvolutionFwdAlgo_t : int {};
enum cudnnConvolutionBwdDataAlgo_t : int {};
enum cudnnConvolutionBwdFilterAlgo_t : int {};

// The Find*Ex results [H cudnn_cnn.h; D "cudnn_cnn Library", struct types]: algo, status,
// time (ms), memory (bytes), determinism, mathType, int reserved[3]. cuDNN writes arrays of
// these, so the layout must be exact: 4+4+4 (+4 padding) + 8 + 4+4+12 = 48 bytes on LP64.
#define MDMT_CUDNN_PERF_STRUCT(NAME, ALGO) \
  struct NAME {                            \
    ALGO algo;                             \
    cudnnStatus_t status;                  \
    float time;                            \
    size_t memory;                         \
    cudnnDeterminism_t determinism;        \
    cudnnMathType_t mathType;              \
    int reserved[3];                       \
  };
MDMT_CUDNN_PERF_STRUCT(cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t)
MDMT_CUDNN_PERF_STRUCT(cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t)
MDMT_CUDNN_PERF_STRUCT(cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t)
#undef MDMT_CUDNN_PERF_STRUCT
static_assert(sizeof(cudnnConvolutionFwdAlgoPerf_t) == 48 && offsetof(cudnnConvolutionFwdAlgoPerf_t, memory) == 16 &&
                  offsetof(cudnnConvolutionFwdAlgoPerf_t, mathType) == 28,
              "cudnnConvolution*AlgoPerf_t must match cuDNN's layout");

// ---- the functions: signatures as in [H], header named per group ------------------------
// X(return type, name at the call site, exported symbol, (parameters), (arguments))
#define MDMT_CUDNN_API(X)                                                                                            \
  /* cudnn_graph.h */                                                                                                \
  X(size_t, cudnnGetVersion, cudnnGetVersion, (), ())                                                                \
  X(const char*, cudnnGetErrorString, cudnnGetErrorString, (cudnnStatus_t status), (status))                         \
  X(cudnnStatus_t, cudnnCreate, cudnnCreate, (cudnnHandle_t * handle), (handle))                                     \
  X(cudnnStatus_t, cudnnSetStream, cudnnSetStream, (cudnnHandle_t handle, cudaStream_t stream), (handle, stream))    \
  /* cudnn_ops.h */                                                                                                  \
  X(cudnnStatus_t, cudnnCreateTensorDescriptor, cudnnCreateTensorDescriptor, (cudnnTensorDescriptor_t * d), (d))     \
  X(cudnnStatus_t, cudnnSetTensor4dDescriptor, cudnnSetTensor4dDescriptor,                                           \
    (cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type, int n, int c, int h, int w),       \
    (d, format, type, n, c, h, w))                                                                                   \
  X(cudnnStatus_t, cudnnCreateFilterDescriptor, cudnnCreateFilterDescriptor, (cudnnFilterDescriptor_t * d), (d))     \
  X(cudnnStatus_t, cudnnSetFilter4dDescriptor, cudnnSetFilter4dDescriptor,                                           \
    (cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format, int k, int c, int h, int w),       \
    (d, type, format, k, c, h, w))                                                                                   \
  /* cudnn_cnn.h */                                                                                                  \
  X(cudnnStatus_t, cudnnCreateConvolutionDescriptor, cudnnCreateConvolutionDescriptor,                               \
    (cudnnConvolutionDescriptor_t * d), (d))                                                                         \
  X(cudnnStatus_t, cudnnSetConvolution2dDescriptor, cudnnSetConvolution2dDescriptor,                                 \
    (cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w,             \
     cudnnConvolutionMode_t mode, cudnnDataType_t compute_type),                                                     \
    (d, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, compute_type))                                             \
  X(cudnnStatus_t, cudnnSetConvolutionGroupCount, cudnnSetConvolutionGroupCount,                                     \
    (cudnnConvolutionDescriptor_t d, int groups), (d, groups))                                                       \
  X(cudnnStatus_t, cudnnSetConvolutionMathType, cudnnSetConvolutionMathType,                                         \
    (cudnnConvolutionDescriptor_t d, cudnnMathType_t math), (d, math))                                               \
  X(cudnnStatus_t, cudnnGetConvolution2dForwardOutputDim, cudnnGetConvolution2dForwardOutputDim,                     \
    (const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,       \
     int* n, int* c, int* h, int* wd),                                                                               \
    (conv, x, w, n, c, h, wd))                                                                                       \
  X(cudnnStatus_t, cudnnFindConvolutionForwardAlgorithmEx, cudnnFindConvolutionForwardAlgorithmEx,                   \
    (cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x, const cudnnFilterDescriptor_t wd,             \
     const void* w, const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t yd, void* y,              \
     const int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf, void* ws, size_t ws_bytes),           \
    (h, xd, x, wd, w, conv, yd, y, requested, returned, perf, ws, ws_bytes))                                         \
  X(cudnnStatus_t, cudnnFindConvolutionBackwardDataAlgorithmEx, cudnnFindConvolutionBackwardDataAlgorithmEx,         \
    (cudnnHandle_t h, const cudnnFilterDescriptor_t wd, const void* w, const cudnnTensorDescriptor_t dyd,            \
     const void* dy, const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t dxd, void* dx,           \
     const int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf, void* ws, size_t ws_bytes),       \
    (h, wd, w, dyd, dy, conv, dxd, dx, requested, returned, perf, ws, ws_bytes))                                     \
  X(cudnnStatus_t, cudnnFindConvolutionBackwardFilterAlgorithmEx, cudnnFindConvolutionBackwardFilterAlgorithmEx,     \
    (cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x, const cudnnTensorDescriptor_t dyd,            \
     const void* dy, const cudnnConvolutionDescriptor_t conv, const cudnnFilterDescriptor_t dwd, void* dw,           \
     const int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t ws_bytes),     \
    (h, xd, x, dyd, dy, conv, dwd, dw, requested, returned, perf, ws, ws_bytes))                                     \
  X(cudnnStatus_t, cudnnConvolutionForward, cudnnConvolutionForward,                                                 \
    (cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd, const void* x,                            \
     const cudnnFilterDescriptor_t wd, const void* w, const cudnnConvolutionDescriptor_t conv,                       \
     cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_bytes, const void* beta, const cudnnTensorDescriptor_t yd,  \
     void* y),                                                                                                       \
    (h, alpha, xd, x, wd, w, conv, algo, ws, ws_bytes, beta, yd, y))                                                 \
  X(cudnnStatus_t, cudnnConvolutionBackwardData, cudnnConvolutionBackwardData,                                       \
    (cudnnHandle_t h, const void* alpha, const cudnnFilterDescriptor_t wd, const void* w,                            \
     const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t conv,                     \
     cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t ws_bytes, const void* beta,                                \
     const cudnnTensorDescriptor_t dxd, void* dx),                                                                   \
    (h, alpha, wd, w, dyd, dy, conv, algo, ws, ws_bytes, beta, dxd, dx))                                             \
  X(cudnnStatus_t, cudnnConvolutionBackwardFilter, cudnnConvolutionBackwardFilter,                                   \
    (cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd, const void* x,                            \
     const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t conv,                     \
     cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_bytes, const void* beta,                              \
     const cudnnFilterDescriptor_t dwd, void* dw),                                                                   \
    (h, alpha, xd, x, dyd, dy, conv, algo, ws, ws_bytes, beta, dwd, dw))

namespace mdmt {
namespace dyn {
struct CudnnApi {
  MDMT_CUDNN_API(MDMT_DYN_FIELD)
};
extern const CudnnApi* g_cudnn;  // set once by the loader when every symbol resolved
inline const CudnnApi& cudnn_api() { return loaded(g_cudnn, "cuDNN"); }
}  // namespace dyn
}  // namespace mdmt

#define MDMT_DYN_WRAP_CUDNN(RET, NAME, SYM, PARAMS, ARGS) \
  inline RET NAME PARAMS { return ::mdmt::dyn::cudnn_api().SYM ARGS; }
MDMT_CUDNN_API(MDMT_DYN_WRAP_CUDNN)
#undef MDMT_DYN_WRAP_CUDNN
