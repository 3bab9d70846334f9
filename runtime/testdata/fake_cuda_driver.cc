// A stand-in for libcuda.so.1 so that runtime/cuda.cc's driver path is tested on machines without a
// GPU: "device memory" is host memory, modules are the image strings, and the kernels are
// add_one(float* data, int64 n), which adds 1 to data[0..n) on the host, fail_launch, which fails,
// no_such_kernel, which is not found, and any other, which does nothing (compiled kernels: only
// their launches count). An image starting with "corrupt" does not load. Stream capture records
// launches and copies into a graph that cuGraphLaunch replays (waiting for the stream inside a
// capture fails, as it does on a GPU). With FAKE_CUDA_POISON_AT_LAUNCH=N set, the N-th launch fails
// with CUDA_ERROR_ILLEGAL_ADDRESS and so does every later launch, allocation, copy and wait, as a
// GPU context is after such a fault. With FAKE_CUDA_HANG_AT_LAUNCH=N, the N-th launch never returns
// (a kernel that never ends). Counters let tests see what the runtime did.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using CUresult = int;
using Handle = void*;
constexpr CUresult kSuccess = 0, kInvalidValue = 1, kInvalidDevice = 101, kInvalidPtx = 218,
                   kNotFound = 500, kLaunchFailed = 719, kCaptureUnsupported = 900,
                   kIllegalAddress = 700;
bool poisoned = false;
int modules_loaded = 0, launches = 0, contexts_retained = 0, graph_launches = 0, last_image_elf = 0;
// The capture under way (null when none): the stream's work, recorded.
using Work = std::vector<std::function<CUresult()>>;
Work* capture = nullptr;

// Runs `op` now, or records it into the capture under way.
CUresult Enqueue(std::function<CUresult()> op) {
  if (capture == nullptr) return op();
  capture->push_back(std::move(op));
  return kSuccess;
}
unsigned last_grid = 0, last_block = 0;
char add_one_tag, fail_tag, noop_tag;

CUresult Init(unsigned) { return kSuccess; }
CUresult DeviceGet(int* device, int ordinal) {
  if (ordinal != 0) return kInvalidDevice;
  *device = 0;
  return kSuccess;
}
CUresult PrimaryCtxRetain(Handle* context, int) {
  ++contexts_retained;
  *context = &contexts_retained;
  return kSuccess;
}
CUresult PrimaryCtxRelease(int) {
  --contexts_retained;
  return kSuccess;
}
CUresult CtxSetCurrent(Handle) { return kSuccess; }
CUresult StreamCreate(Handle* stream, unsigned) {
  *stream = &launches;
  return kSuccess;
}
CUresult StreamDestroy(Handle) { return kSuccess; }
CUresult StreamSynchronize(Handle) {
  if (poisoned) return kIllegalAddress;
  return capture != nullptr ? kCaptureUnsupported : kSuccess;
}
CUresult StreamBeginCapture(Handle, int) {
  if (capture != nullptr) return kInvalidValue;
  capture = new Work;
  return kSuccess;
}
CUresult StreamEndCapture(Handle, Handle* graph) {
  if (capture == nullptr) return kInvalidValue;
  *graph = capture;
  capture = nullptr;
  return kSuccess;
}
CUresult GraphInstantiate(Handle* exec, Handle graph, unsigned long long) {  // NOLINT
  *exec = new Work(*static_cast<Work*>(graph));
  return kSuccess;
}
CUresult GraphLaunch(Handle exec, Handle) {
  if (capture != nullptr) return kCaptureUnsupported;
  ++graph_launches;
  for (auto& op : *static_cast<Work*>(exec)) {
    if (CUresult r = op(); r != kSuccess) return r;
  }
  return kSuccess;
}
CUresult GraphDestroy(Handle graph) {
  delete static_cast<Work*>(graph);
  return kSuccess;
}
CUresult MemAllocHost(void** p, size_t bytes) {
  *p = std::malloc(bytes);
  return kSuccess;
}
CUresult MemFreeHost(void* p) {
  std::free(p);
  return kSuccess;
}
CUresult ModuleLoadData(Handle* module, const void* image) {
  if (std::strncmp(static_cast<const char*>(image), "corrupt", 7) == 0) return kInvalidPtx;
  ++modules_loaded;
  last_image_elf = std::memcmp(image,
                               "\x7f"
                               "ELF",
                               4) == 0;  // a cubin rather than PTX
  *module = const_cast<void*>(image);
  return kSuccess;
}
CUresult ModuleUnload(Handle) { return kSuccess; }
CUresult ModuleGetFunction(Handle* function, Handle, const char* name) {
  if (std::strcmp(name, "add_one") == 0) {
    *function = &add_one_tag;
  } else if (std::strcmp(name, "fail_launch") == 0) {
    *function = &fail_tag;
  } else if (std::strcmp(name, "no_such_kernel") == 0) {
    return kNotFound;
  } else {
    *function = &noop_tag;  // a compiled kernel: the fake cannot run PTX, it only counts the launch
  }
  return kSuccess;
}
CUresult LaunchKernel(Handle function, unsigned gx, unsigned, unsigned, unsigned bx, unsigned,
                      unsigned, unsigned, Handle, void** args, void**) {
  static const int poison_at = [] {
    const char* at = std::getenv("FAKE_CUDA_POISON_AT_LAUNCH");
    return at != nullptr ? std::atoi(at) : 0;
  }();
  static const int hang_at = [] {
    const char* at = std::getenv("FAKE_CUDA_HANG_AT_LAUNCH");
    return at != nullptr ? std::atoi(at) : 0;
  }();
  static int calls = 0;
  if (calls + 1 == hang_at) {
    for (;;) pause();
  }
  if (poisoned || ++calls == poison_at) {
    poisoned = true;
    return kIllegalAddress;
  }
  if (function == &fail_tag) {
    ++launches;
    return kLaunchFailed;
  }
  if (function == &noop_tag) {
    return Enqueue([] {
      ++launches;
      return kSuccess;
    });
  }
  // add_one: the arguments' values are taken now, as cuLaunchKernel does.
  float* data = reinterpret_cast<float*>(*static_cast<uint64_t*>(args[0]));
  const int64_t n = *static_cast<int64_t*>(args[1]);
  return Enqueue([=] {
    ++launches;
    last_grid = gx, last_block = bx;
    for (int64_t i = 0; i < n; ++i) data[i] += 1;
    return kSuccess;
  });
}
CUresult MemAlloc(unsigned long long* p, size_t bytes) {  // NOLINT: the driver's type
  if (poisoned) return kIllegalAddress;
  if (bytes > (size_t{1} << 30)) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
  *p = reinterpret_cast<uintptr_t>(std::malloc(bytes));
  return kSuccess;
}
CUresult MemFree(unsigned long long p) {  // NOLINT
  std::free(reinterpret_cast<void*>(p));
  return kSuccess;
}
CUresult HtoD(unsigned long long dst, const void* src, size_t n, Handle) {  // NOLINT
  if (poisoned) return kIllegalAddress;
  return Enqueue([=] {
    std::memcpy(reinterpret_cast<void*>(dst), src, n);
    return kSuccess;
  });
}
CUresult DtoH(void* dst, unsigned long long src, size_t n, Handle) {  // NOLINT
  if (poisoned) return kIllegalAddress;
  return Enqueue([=] {
    std::memcpy(dst, reinterpret_cast<void*>(src), n);
    return kSuccess;
  });
}
CUresult ErrorName(CUresult r, const char** name) {
  switch (r) {
    case kInvalidPtx: *name = "CUDA_ERROR_INVALID_PTX"; return kSuccess;
    case kNotFound: *name = "CUDA_ERROR_NOT_FOUND"; return kSuccess;
    case kLaunchFailed: *name = "CUDA_ERROR_LAUNCH_FAILED"; return kSuccess;
    case kInvalidDevice: *name = "CUDA_ERROR_INVALID_DEVICE"; return kSuccess;
    case 2: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return kSuccess;
    case kCaptureUnsupported: *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; return kSuccess;
    case kIllegalAddress: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; return kSuccess;
    default: return kInvalidValue;
  }
}
CUresult ErrorString(CUresult r, const char** text) {
  *text = r == kLaunchFailed ? "unspecified launch failure" : "fake driver error";
  return kSuccess;
}

}  // namespace

extern "C" {

CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int, uint64_t, int* status) {
  static const struct {
    const char* name;
    void* fn;
  } kTable[] = {
      {"cuInit", reinterpret_cast<void*>(&Init)},
      {"cuDeviceGet", reinterpret_cast<void*>(&DeviceGet)},
      {"cuDevicePrimaryCtxRetain", reinterpret_cast<void*>(&PrimaryCtxRetain)},
      {"cuDevicePrimaryCtxRelease", reinterpret_cast<void*>(&PrimaryCtxRelease)},
      {"cuCtxSetCurrent", reinterpret_cast<void*>(&CtxSetCurrent)},
      {"cuStreamCreate", reinterpret_cast<void*>(&StreamCreate)},
      {"cuStreamDestroy", reinterpret_cast<void*>(&StreamDestroy)},
      {"cuStreamSynchronize", reinterpret_cast<void*>(&StreamSynchronize)},
      {"cuModuleLoadData", reinterpret_cast<void*>(&ModuleLoadData)},
      {"cuModuleUnload", reinterpret_cast<void*>(&ModuleUnload)},
      {"cuModuleGetFunction", reinterpret_cast<void*>(&ModuleGetFunction)},
      {"cuLaunchKernel", reinterpret_cast<void*>(&LaunchKernel)},
      {"cuMemAlloc", reinterpret_cast<void*>(&MemAlloc)},
      {"cuMemFree", reinterpret_cast<void*>(&MemFree)},
      {"cuMemcpyHtoDAsync", reinterpret_cast<void*>(&HtoD)},
      {"cuMemcpyDtoHAsync", reinterpret_cast<void*>(&DtoH)},
      {"cuGetErrorName", reinterpret_cast<void*>(&ErrorName)},
      {"cuGetErrorString", reinterpret_cast<void*>(&ErrorString)},
      {"cuMemAllocHost", reinterpret_cast<void*>(&MemAllocHost)},
      {"cuMemFreeHost", reinterpret_cast<void*>(&MemFreeHost)},
      {"cuStreamBeginCapture", reinterpret_cast<void*>(&StreamBeginCapture)},
      {"cuStreamEndCapture", reinterpret_cast<void*>(&StreamEndCapture)},
      {"cuGraphInstantiateWithFlags", reinterpret_cast<void*>(&GraphInstantiate)},
      {"cuGraphLaunch", reinterpret_cast<void*>(&GraphLaunch)},
      {"cuGraphExecDestroy", reinterpret_cast<void*>(&GraphDestroy)},
      {"cuGraphDestroy", reinterpret_cast<void*>(&GraphDestroy)},
  };
  for (const auto& entry : kTable) {
    if (std::strcmp(entry.name, symbol) == 0) {
      *pfn = entry.fn;
      *status = 0;
      return kSuccess;
    }
  }
  *pfn = nullptr;
  *status = 1;  // CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
  return kNotFound;
}

// For tests.
int fake_cuda_modules_loaded() { return modules_loaded; }
int fake_cuda_launches() { return launches; }
int fake_cuda_graph_launches() { return graph_launches; }
int fake_cuda_last_image_elf() { return last_image_elf; }
int fake_cuda_contexts_retained() { return contexts_retained; }
unsigned fake_cuda_last_grid() { return last_grid; }
unsigned fake_cuda_last_block() { return last_block; }

}  // extern "C"
