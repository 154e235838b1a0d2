// Errors: every failure in native code becomes an MdmtException carrying a code, the op
// that failed and a message naming the problem; addon.cc turns it into a JS MdmtError.
// Nothing in native code may abort the process: no assert(), no exit(), no unchecked throw
// across the N-API boundary.
#pragma once
#include <exception>
#include <sstream>
#include <string>

namespace mdmt {

// Error codes (stable strings, also used by the TypeScript side).
namespace code {
inline constexpr const char* kInvalid = "EINVAL";      // bad argument (type, count, value)
inline constexpr const char* kShape = "ESHAPE";        // shape mismatch
inline constexpr const char* kDType = "EDTYPE";        // wrong dtype
inline constexpr const char* kDevice = "EDEVICE";      // wrong / mixed / unavailable device
inline constexpr const char* kDisposed = "EDISPOSED";  // tensor id freed or never allocated
inline constexpr const char* kNoMem = "ENOMEM";        // allocation failed
inline constexpr const char* kNotImpl = "ENOTIMPL";    // op not available on this backend
inline constexpr const char* kCuda = "ECUDA";          // CUDA runtime / driver error
inline constexpr const char* kCudnn = "ECUDNN";        // cuDNN error
inline constexpr const char* kCublas = "ECUBLAS";      // cuBLAS error
inline constexpr const char* kInternal = "EINTERNAL";  // a bug in mdmt
}  // namespace code

class MdmtException : public std::exception {
 public:
  MdmtException(std::string code, std::string op, std::string detail, const char* file = "", int line = 0)
      : code_(std::move(code)), op_(std::move(op)), detail_(std::move(detail)), file_(file), line_(line) {
    what_ = (op_.empty() ? std::string() : op_ + ": ") + detail_;
  }
  const char* what() const noexcept override { return what_.c_str(); }
  const std::string& code() const { return code_; }
  const std::string& op() const { return op_; }
  const std::string& detail() const { return detail_; }
  const std::string& file() const { return file_; }
  int line() const { return line_; }

 private:
  std::string code_, op_, detail_, file_, what_;
  int line_;
};

// Stream-style message building: MDMT_FAIL(code::kShape, op, "x has " << n << " dims").
#define MDMT_FAIL(CODE, OP, MSG)                                                     \
  do {                                                                               \
    std::ostringstream mdmt_os_;                                                     \
    mdmt_os_ << MSG;                                                                 \
    throw ::mdmt::MdmtException((CODE), (OP), mdmt_os_.str(), __FILE__, __LINE__); \
  } while (0)

#define MDMT_CHECK(COND, CODE, OP, MSG) \
  do {                                  \
    if (!(COND)) MDMT_FAIL(CODE, OP, MSG); \
  } while (0)

}  // namespace mdmt
