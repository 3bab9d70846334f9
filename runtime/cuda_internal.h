// Internal to the CUDA runtime (runtime/cuda.cc and the library hooks beside it): the driver's
// entry points and a CUDA context's state. The few driver types used are declared here, so nothing
// needs the CUDA headers to build.
#ifndef KILN_RUNTIME_CUDA_INTERNAL_H_
#define KILN_RUNTIME_CUDA_INTERNAL_H_

#include <dlfcn.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/kiln_runtime.h"

namespace kiln {
namespace cuda_internal {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;  // NOLINT: the driver's type
using Handle = void*;                    // CUcontext, CUmodule, CUfunction, CUstream
constexpr CUresult kSuccess = 0;
constexpr int kDriverApiVersion = 12000;  // the ABIs of CUDA 12, which drivers 525 and later have

// The entry points, each looked up by its base name for kDriverApiVersion.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDevicePrimaryCtxRetain)(Handle*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(Handle);
  CUresult (*cuStreamCreate)(Handle*, unsigned);
  CUresult (*cuStreamDestroy)(Handle);
  CUresult (*cuStreamSynchronize)(Handle);
  CUresult (*cuModuleLoadData)(Handle*, const void*);
  CUresult (*cuModuleUnload)(Handle);
  CUresult (*cuModuleGetFunction)(Handle*, Handle, const char*);
  CUresult (*cuLaunchKernel)(Handle, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, Handle, void**, void**);
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, Handle);
  CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, Handle);
  CUresult (*cuGetErrorName)(CUresult, const char**);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuMemAllocHost)(void**, size_t);
  CUresult (*cuMemFreeHost)(void*);
  CUresult (*cuStreamBeginCapture)(Handle, int);
  CUresult (*cuStreamEndCapture)(Handle, Handle*);
  CUresult (*cuGraphInstantiateWithFlags)(Handle*, Handle, unsigned long long);  // NOLINT
  CUresult (*cuGraphLaunch)(Handle, Handle);
  CUresult (*cuGraphExecDestroy)(Handle);
  CUresult (*cuGraphDestroy)(Handle);
};

constexpr int kCaptureModeThreadLocal = 1;  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL

// An index check recorded into a CUDA graph: its finding lands in pinned host memory at each
// replay.
struct DeferredCheck {
  int64_t* finding;  // pinned
  int64_t n, limit, bytes;
  const char* where;
  const char* what;
  const void* indices;  // device memory
};

struct State {
  void* library = nullptr;  // the dlopen handle
  Driver driver{};
  CUdevice device = 0;
  Handle context = nullptr, stream = nullptr;
  bool ready = false;
  std::mutex mu;
  std::map<const void*, Handle> modules;  // by image
  // By image and kernel name, as pointers: generated code passes each from one constant.
  std::map<std::pair<const void*, const char*>, Handle> functions;
  bool capturing = false;
  std::vector<DeferredCheck> captured_checks;  // of the capture under way
  std::vector<DeferredCheck> pending_checks;   // of the replays queued since the last synchronize
  // State of the libraries the hooks call (cuBLASLt, cuDNN), made at their first use; released
  // before the context.
  std::shared_ptr<void> blas, dnn;

  ~State() {
    blas.reset();
    dnn.reset();
    if (ready) {
      driver.cuCtxSetCurrent(context);
      for (const DeferredCheck& c : captured_checks) driver.cuMemFreeHost(c.finding);
      for (const auto& [image, module] : modules) driver.cuModuleUnload(module);
      driver.cuStreamDestroy(stream);
      driver.cuDevicePrimaryCtxRelease(device);
    }
    if (library != nullptr) dlclose(library);
  }
};

// The context's state (made at its first use); null when it holds another library's (oneDNN's).
State* GetState(kiln_context* context);
// The state, current on this thread, or null when the context is not usable (its status says why).
// After a driver error nothing more runs; an index out of range (OUT_OF_RANGE) lets the run finish,
// as compiled CPU code does.
State* Ready(kiln_context* context);
// Sets the context's status for the failed call `what`.
void Fail(kiln_context* context, const State& s, CUresult r, const std::string& what);
// False (and the context's status set, naming the call and any kernel) when `r` is an error. The
// message is built only then: launches are the hot path.
bool Check(kiln_context* context, const State& s, CUresult r, const char* call,
           const char* kernel = nullptr);

// A library the hooks call (cuBLASLt, cuDNN), opened at run time: the path in $`env_var` if set
// (and only that), else the first of `names` the loader finds. Null, with the status UNAVAILABLE
// naming `what` and every path tried, when none opens.
void* OpenLibrary(kiln_context* context, const char* env_var, const std::vector<std::string>& names,
                  const std::string& what);

// Looks `name` up in `library` into `fn`. False, with the status UNAVAILABLE naming the symbol and
// `what`, when it is missing (a status already set is kept).
template <typename F>
bool LookUp(kiln_context* context, void* library, const std::string& what, const char* name,
            F& fn) {
  fn = reinterpret_cast<F>(dlsym(library, name));
  if (fn != nullptr) return true;
  if (kiln_context_status(context) == KILN_OK) {
    kiln_context_set_error(context, KILN_UNAVAILABLE, (what + " lacks " + name).c_str());
  }
  return false;
}

// Sets INTERNAL "<call> for <what>: <text>" (text: the library's name for the status, else
// "<library> status <code>") and returns false.
bool LibraryError(kiln_context* context, const char* call, const std::string& what,
                  const char* text, const char* library, int code);

// The plans a library (cuBLASLt, cuDNN) made for call sites, by (kind, parameters). Calls find a
// site's plan by the address of its parameters (compiled code passes each site's from one constant
// array; they are still compared), so the hot path builds no key. Only complete plans are added.
template <typename Plan>
class PlanCache {
 public:
  Plan* Find(int64_t kind, const int64_t* params, int n) {
    auto site = by_site_.find(params);
    if (site != by_site_.end() && Same(*site->second.first, kind, params, n))
      return site->second.second;
    auto it = plans_.find(Key(kind, params, n));
    if (it == plans_.end()) return nullptr;
    by_site_[params] = {&it->first, &it->second};
    return &it->second;
  }
  Plan* Add(int64_t kind, const int64_t* params, int n, Plan plan) {
    auto it = plans_.emplace(Key(kind, params, n), std::move(plan)).first;
    by_site_[params] = {&it->first, &it->second};
    return &it->second;
  }
  template <typename F>
  void ForEach(F f) {
    for (auto& [key, plan] : plans_) f(plan);
  }

 private:
  static std::vector<int64_t> Key(int64_t kind, const int64_t* params, int n) {
    std::vector<int64_t> key = {kind};
    key.insert(key.end(), params, params + n);
    return key;
  }
  static bool Same(const std::vector<int64_t>& key, int64_t kind, const int64_t* params, int n) {
    return key.size() == static_cast<size_t>(n) + 1 && key[0] == kind &&
           std::equal(params, params + n, key.begin() + 1);
  }
  std::map<std::vector<int64_t>, Plan> plans_;
  std::unordered_map<const int64_t*, std::pair<const std::vector<int64_t>*, Plan*>> by_site_;
};

// Destroys a plan under construction unless released: a failed plan is not kept, so the next call
// tries again rather than running half-made descriptors.
template <typename Library, typename Plan>
struct DiscardUnlessKept {
  Library* library;
  Plan* plan;
  ~DiscardUnlessKept() {
    if (plan != nullptr) library->Destroy(*plan);
  }
};

}  // namespace cuda_internal
}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_INTERNAL_H_
