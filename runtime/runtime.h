// C++ face of Kiln's runtime (runtime/kiln_runtime.h is the C ABI beneath it): an owning context
// whose status reads as a kiln::rt::Status, and aligned buffers. Generated headers include this.
#ifndef KILN_RUNTIME_RUNTIME_H_
#define KILN_RUNTIME_RUNTIME_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "runtime/kiln_runtime.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {

// Owns a kiln_context: the threads parallel loops run on and the status of the last call.
class Context {
 public:
  // `num_threads` threads, the caller's included (0: one per hardware thread).
  explicit Context(int num_threads = 1) : context_(kiln_context_create(num_threads)) {
    if (context_ == nullptr) throw std::bad_alloc();
  }
  // Takes ownership of `context` (e.g. from kiln_dnnl_context_create); throws std::bad_alloc for
  // null.
  explicit Context(kiln_context* context) : context_(context) {
    if (context_ == nullptr) throw std::bad_alloc();
  }
  // Parallel loops run on the caller's scheduler, split into `num_threads` chunks.
  Context(kiln_scheduler scheduler, void* user_data, int num_threads)
      : context_(kiln_context_create_with_scheduler(scheduler, user_data, num_threads)) {
    if (context_ == nullptr) throw std::bad_alloc();
  }
  kiln_context* get() const { return context_.get(); }
  int num_threads() const { return kiln_context_num_threads(context_.get()); }
  // The first run-time error since the last call (OK if none), and clears it.
  Status TakeStatus() {
    Status s(kiln_context_status(context_.get()), kiln_context_message(context_.get()));
    kiln_context_clear_status(context_.get());
    return s;
  }

 private:
  struct Destroy {
    void operator()(kiln_context* c) const { kiln_context_destroy(c); }
  };
  std::unique_ptr<kiln_context, Destroy> context_;
};

// The kiln_dtype of a C++ element type (f16 and bf16, held as uint16_t, have none).
template <typename T>
constexpr kiln_dtype DTypeOf();
template <>
constexpr kiln_dtype DTypeOf<float>() {
  return KILN_F32;
}
template <>
constexpr kiln_dtype DTypeOf<double>() {
  return KILN_F64;
}
template <>
constexpr kiln_dtype DTypeOf<int8_t>() {
  return KILN_I8;
}
template <>
constexpr kiln_dtype DTypeOf<int32_t>() {
  return KILN_I32;
}
template <>
constexpr kiln_dtype DTypeOf<int64_t>() {
  return KILN_I64;
}
template <>
constexpr kiln_dtype DTypeOf<bool>() {
  return KILN_BOOL;
}

// Copies `count` elements of `dtype` at `data` into the tensor called `name` among the `n` at
// `tensors` (the generated classes' Set). INVALID_ARGUMENT, naming the tensor, for an unknown
// name, another dtype or another element count; nothing is copied then.
inline Status CopyIntoTensor(const kiln_tensor* tensors, size_t n, const std::string& name,
                             kiln_dtype dtype, const void* data, size_t count) {
  for (size_t i = 0; i < n; ++i) {
    const kiln_tensor& t = tensors[i];
    if (name != t.name) continue;
    size_t elements = 1;
    for (int32_t d = 0; d < t.rank; ++d) elements *= static_cast<size_t>(t.shape[d]);
    if (dtype != t.dtype || count != elements) {
      // "f32[2,3]", only for the message.
      std::string type = std::string(kiln_dtype_name(t.dtype)) + "[";
      for (int32_t d = 0; d < t.rank; ++d) type += (d ? "," : "") + std::to_string(t.shape[d]);
      type += "]";
      if (dtype != t.dtype) {
        return InvalidArgumentError("'" + name + "' is " + type + ", not " +
                                    kiln_dtype_name(dtype));
      }
      return InvalidArgumentError("'" + name + "' is " + type + " (" + std::to_string(elements) +
                                  " elements), not " + std::to_string(count) + " elements");
    }
    if (count > 0) std::memcpy(t.data, data, count * kiln_dtype_size(dtype));
    return OkStatus();
  }
  return InvalidArgumentError("the model has no input or variable '" + name + "'");
}

// 64-byte aligned memory (e.g. a compiled graph's arena for callers of the C ABI).
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes)
      : data_(static_cast<unsigned char*>(kiln_aligned_alloc(bytes))) {
    if (data_ == nullptr && bytes > 0) throw std::bad_alloc();
  }
  unsigned char* data() const { return data_.get(); }

 private:
  struct Free {
    void operator()(unsigned char* p) const { kiln_aligned_free(p); }
  };
  std::unique_ptr<unsigned char, Free> data_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_RUNTIME_H_
