// The part of cuBLAS and cuBLASLt that mdmt calls, declared here from NVIDIA's documented API
// so that the CUDA backend compiles without the cuBLAS headers and opens libcublas /
// libcublasLt (.so.13 or .so.12) at run time (dynload/loader.cc). As in cudnn_api.h, call
// sites keep NVIDIA's names through inline wrappers over the loaded table; `cublasCreate`,
// `cublasSetStream` and `cublasSgemm` forward to the exported `_v2` symbols, exactly as
// cublas_v2.h's macros do. cudaDataType_t and libraryPropertyType come from the CUDA
// toolkit's own library_types.h (present wherever nvcc is).
//
// Where the numbers come from (two sources for every value and layout):
//   [H] NVIDIA's cuBLAS 12.6 headers cublas_api.h, cublas_v2.h, cublasLt.h (the toolkit copy in
//       github.com/zspace/system.cuda-12.6, include/), read line by line;
//   [N] NVIDIA's nvmath-python binding reference (docs.nvidia.com/cuda/nvmath-python/latest and
//       0.1.0, bindings.cublas / bindings.cublasLt enums), which prints each numeric value and
//       covers both cuBLAS 12 and cuBLAS 13. Every value below is the same in both versions.
#pragma once
#include <cuda_runtime_api.h>  // cudaStream_t
#include <library_types.h>     // cudaDataType_t (CUDA_R_32F = 0), libraryPropertyType

#include <cstddef>
#include <cstdint>

#include "table.h"

// ---- cuBLAS [H cublas_api.h] ----------------------------------------------------------------
struct cublasContext;
typedef struct cublasContext* cublasHandle_t;

// cublasStatus_t: SUCCESS 0 [H; N cuBLASError]; other statuses are printed by name through
// cublasGetStatusName, so none is named here.
enum cublasStatus_t : int { CUBLAS_STATUS_SUCCESS = 0 };
// cublasOperation_t: N 0, T 1, C 2 [H; N Operation].
enum cublasOperation_t : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };
// cublasMath_t: DEFAULT 0, PEDANTIC 2, TF32_TENSOR_OP 3 [H; N Math].
enum cublasMath_t : int { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
// cublasComputeType_t: 32F 68, 32F_FAST_TF32 77 [H; N ComputeType].
enum cublasComputeType_t : int { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };

// ---- cuBLASLt [H cublasLt.h] -----------------------------------------------------------------
struct cublasLtContext;
typedef struct cublasLtContext* cublasLtHandle_t;
// Descriptors are created by the library (…Create) and only passed back: opaque here.
struct cublasLtMatmulDescOpaque_t;
typedef cublasLtMatmulDescOpaque_t* cublasLtMatmulDesc_t;
struct cublasLtMatrixLayoutOpaque_t;
typedef cublasLtMatrixLayoutOpaque_t* cublasLtMatrixLayout_t;
struct cublasLtMatmulPreferenceOpaque_t;
typedef cublasLtMatmulPreferenceOpaque_t* cublasLtMatmulPreference_t;

// The algorithm is held by value (copied out of the heuristic result): { uint64_t data[8]; } [H].
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
// cublasLtMatmulHeuristicResult_t [H; N MatmulHeuristicResult: algo, workspace_size (uint64),
// state (int32), waves_count (float32)], then int reserved[4]: 64 + 8 + 4 + 4 + 16 = 96 bytes.
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
static_assert(sizeof(cublasLtMatmulAlgo_t) == 64 && sizeof(cublasLtMatmulHeuristicResult_t) == 96 &&
                  offsetof(cublasLtMatmulHeuristicResult_t, state) == 72,
              "cuBLASLt structs must match the library's layout");

// cublasLtMatmulDescAttributes_t: TRANSA 3, TRANSB 4, EPILOGUE 7, BIAS_POINTER 8 [H; N MatmulDescAttribute].
enum cublasLtMatmulDescAttributes_t : int {
  CUBLASLT_MATMUL_DESC_TRANSA = 3,
  CUBLASLT_MATMUL_DESC_TRANSB = 4,
  CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
  CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
};
// cublasLtEpilogue_t: DEFAULT 1, BIAS 4 [H; N Epilogue]. Set through a uint32_t attribute.
enum cublasLtEpilogue_t : uint32_t { CUBLASLT_EPILOGUE_DEFAULT = 1, CUBLASLT_EPILOGUE_BIAS = 4 };
static_assert(sizeof(cublasLtEpilogue_t) == 4, "the EPILOGUE attribute is a uint32_t");
// cublasLtMatmulPreferenceAttributes_t: MAX_WORKSPACE_BYTES 1 (a uint64_t) [H; N MatmulPreferenceAttribute].
enum cublasLtMatmulPreferenceAttributes_t : int { CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1 };

// ---- the functions: signatures as in [H] -----------------------------------------------------
// X(return type, name at the call site, exported symbol, (parameters), (arguments))
#define MDMT_CUBLAS_API(X)                                                                                          \
  X(cublasStatus_t, cublasCreate, cublasCreate_v2, (cublasHandle_t * handle), (handle))                             \
  X(cublasStatus_t, cublasSetStream, cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t stream),             \
    (handle, stream))                                                                                               \
  X(cublasStatus_t, cublasSetMathMode, cublasSetMathMode, (cublasHandle_t handle, cublasMath_t mode), (handle, mode)) \
  X(cublasStatus_t, cublasGetProperty, cublasGetProperty, (libraryPropertyType type, int* value), (type, value))   \
  X(const char*, cublasGetStatusName, cublasGetStatusName, (cublasStatus_t status), (status))                      \
  X(const char*, cublasGetStatusString, cublasGetStatusString, (cublasStatus_t status), (status))                  \
  X(cublasStatus_t, cublasSgemm, cublasSgemm_v2,                                                                    \
    (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* alpha,    \
     const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc),                       \
    (handle, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))

#define MDMT_CUBLASLT_API(X)                                                                                        \
  X(cublasStatus_t, cublasLtCreate, cublasLtCreate, (cublasLtHandle_t * handle), (handle))                          \
  X(size_t, cublasLtGetVersion, cublasLtGetVersion, (), ())                                                         \
  X(cublasStatus_t, cublasLtMatmulDescCreate, cublasLtMatmulDescCreate,                                             \
    (cublasLtMatmulDesc_t * desc, cublasComputeType_t compute, cudaDataType_t scale), (desc, compute, scale))       \
  X(cublasStatus_t, cublasLtMatmulDescSetAttribute, cublasLtMatmulDescSetAttribute,                                 \
    (cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* buf, size_t bytes),                \
    (desc, attr, buf, bytes))                                                                                       \
  X(cublasStatus_t, cublasLtMatrixLayoutCreate, cublasLtMatrixLayoutCreate,                                         \
    (cublasLtMatrixLayout_t * layout, cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld),               \
    (layout, type, rows, cols, ld))                                                                                 \
  X(cublasStatus_t, cublasLtMatmulPreferenceCreate, cublasLtMatmulPreferenceCreate,                                 \
    (cublasLtMatmulPreference_t * pref), (pref))                                                                    \
  X(cublasStatus_t, cublasLtMatmulPreferenceDestroy, cublasLtMatmulPreferenceDestroy,                               \
    (cublasLtMatmulPreference_t pref), (pref))                                                                      \
  X(cublasStatus_t, cublasLtMatmulPreferenceSetAttribute, cublasLtMatmulPreferenceSetAttribute,                     \
    (cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void* buf, size_t bytes),    \
    (pref, attr, buf, bytes))                                                                                       \
  X(cublasStatus_t, cublasLtMatmulAlgoGetHeuristic, cublasLtMatmulAlgoGetHeuristic,                                 \
    (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,        \
     cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pref, int requested,            \
     cublasLtMatmulHeuristicResult_t* results, int* returned),                                                      \
    (handle, desc, a, b, c, d, pref, requested, results, returned))                                                 \
  X(cublasStatus_t, cublasLtMatmul, cublasLtMatmul,                                                                 \
    (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A,                          \
     cublasLtMatrixLayout_t a, const void* B, cublasLtMatrixLayout_t b, const void* beta, const void* C,            \
     cublasLtMatrixLayout_t c, void* D, cublasLtMatrixLayout_t d, const cublasLtMatmulAlgo_t* algo, void* ws,       \
     size_t ws_bytes, cudaStream_t stream),                                                                         \
    (handle, desc, alpha, A, a, B, b, beta, C, c, D, d, algo, ws, ws_bytes, stream))

namespace mdmt {
namespace dyn {
struct CublasApi {
  MDMT_CUBLAS_API(MDMT_DYN_FIELD)
};
struct CublasLtApi {
  MDMT_CUBLASLT_API(MDMT_DYN_FIELD)
};
extern const CublasApi* g_cublas;  // set once by the loader when every symbol resolved
extern const CublasLtApi* g_cublaslt;
inline const CublasApi& cublas_api() { return loaded(g_cublas, "cuBLAS"); }
inline const CublasLtApi& cublaslt_api() { return loaded(g_cublaslt, "cuBLASLt"); }
}  // namespace dyn
}  // namespace mdmt

#define MDMT_DYN_WRAP_CUBLAS(RET, NAME, SYM, PARAMS, ARGS) \
  inline RET NAME PARAMS { return ::mdmt::dyn::cublas_api().SYM ARGS; }
#define MDMT_DYN_WRAP_CUBLASLT(RET, NAME, SYM, PARAMS, ARGS) \
  inline RET NAME PARAMS { return ::mdmt::dyn::cublaslt_api().SYM ARGS; }
MDMT_CUBLAS_API(MDMT_DYN_WRAP_CUBLAS)
MDMT_CUBLASLT_API(MDMT_DYN_WRAP_CUBLASLT)
#undef MDMT_DYN_WRAP_CUBLAS
#undef MDMT_DYN_WRAP_CUBLASLT
