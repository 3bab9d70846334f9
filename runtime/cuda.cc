// The CUDA driver behind runtime/cuda.h, opened with dlopen and looked up through
// cuGetProcAddress_v2 (the unversioned exports of libcuda are old ABIs: cuMemAlloc with a 32-bit
// size, ...).
#include "runtime/cuda.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/cuda_internal.h"

namespace kiln {
namespace cuda_internal {

State* GetState(kiln_context* context) {
  static const char kKey = 0;  // the CUDA path's slot in a context
  return static_cast<State*>(kiln_context_library_state(
      context, &kKey, [] { return static_cast<void*>(new State); },
      [](void* s) { delete static_cast<State*>(s); }));
}

// "CUDA_ERROR_INVALID_VALUE (invalid argument)", from the driver when it can say.
std::string ErrorText(const Driver& d, CUresult r) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (d.cuGetErrorName == nullptr || d.cuGetErrorName(r, &name) != kSuccess || name == nullptr) {
    return "CUDA error " + std::to_string(r);
  }
  std::string s = name;
  if (d.cuGetErrorString != nullptr && d.cuGetErrorString(r, &text) == kSuccess &&
      text != nullptr) {
    s += std::string(" (") + text + ")";
  }
  return s;
}

void Fail(kiln_context* context, const State& s, CUresult r, const std::string& what) {
  kiln_context_set_error(context, KILN_INTERNAL, (what + ": " + ErrorText(s.driver, r)).c_str());
}

bool Check(kiln_context* context, const State& s, CUresult r, const char* call,
           const char* kernel) {
  if (r == kSuccess) return true;
  Fail(context, s, r,
       kernel == nullptr ? std::string(call) : std::string(call) + " for kernel '" + kernel + "'");
  return false;
}

void* OpenLibrary(kiln_context* context, const char* env_var, const std::vector<std::string>& names,
                  const std::string& what) {
  std::vector<std::string> paths = names;
  if (const char* p = std::getenv(env_var); p != nullptr && *p != '\0') paths = {p};
  std::string tried;
  for (const std::string& path : paths) {
    if (void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return library;
    const char* why = dlerror();
    tried += "\n  " + (why != nullptr ? std::string(why) : path);
  }
  kiln_context_set_error(context, KILN_UNAVAILABLE,
                         (what + " could not be opened; tried:" + tried).c_str());
  return nullptr;
}

bool LibraryError(kiln_context* context, const char* call, const std::string& what,
                  const char* text, const char* library, int code) {
  kiln_context_set_error(
      context, KILN_INTERNAL,
      (std::string(call) + " for " + what + ": " +
       (text != nullptr ? std::string(text)
                        : std::string(library) + " status " + std::to_string(code)))
          .c_str());
  return false;
}

namespace {

// Opens the driver and the device; leaves the context's status UNAVAILABLE or INTERNAL on failure.
void Attach(kiln_context* context, const char* driver_path, int device) {
  State& s = *GetState(context);
  s.library = dlopen(driver_path, RTLD_NOW | RTLD_LOCAL);
  if (s.library == nullptr) {
    const char* why = dlerror();
    kiln_context_set_error(context, KILN_UNAVAILABLE,
                           (std::string("no CUDA driver: ") + (why ? why : driver_path)).c_str());
    return;
  }
  using GetProc = CUresult (*)(const char*, void**, int, uint64_t, int*);
  auto get_proc = reinterpret_cast<GetProc>(dlsym(s.library, "cuGetProcAddress_v2"));
  if (get_proc == nullptr) {
    kiln_context_set_error(context, KILN_UNAVAILABLE,
                           (std::string(driver_path) +
                            " has no cuGetProcAddress_v2: a CUDA 12 or later driver is needed")
                               .c_str());
    return;
  }
  bool found = true;
  auto lookup = [&](const char* name, auto& fn) {
    void* p = nullptr;
    int status = -1;
    if (get_proc(name, &p, kDriverApiVersion, 0, &status) != kSuccess || status != 0 ||
        p == nullptr) {
      kiln_context_set_error(context, KILN_UNAVAILABLE,
                             (std::string("the CUDA driver lacks ") + name).c_str());
      found = false;
    }
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
  };
  Driver& d = s.driver;
  lookup("cuGetErrorName", d.cuGetErrorName);
  lookup("cuGetErrorString", d.cuGetErrorString);
  lookup("cuInit", d.cuInit);
  lookup("cuDeviceGet", d.cuDeviceGet);
  lookup("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain);
  lookup("cuDevicePrimaryCtxRelease", d.cuDevicePrimaryCtxRelease);
  lookup("cuCtxSetCurrent", d.cuCtxSetCurrent);
  lookup("cuStreamCreate", d.cuStreamCreate);
  lookup("cuStreamDestroy", d.cuStreamDestroy);
  lookup("cuStreamSynchronize", d.cuStreamSynchronize);
  lookup("cuModuleLoadData", d.cuModuleLoadData);
  lookup("cuModuleUnload", d.cuModuleUnload);
  lookup("cuModuleGetFunction", d.cuModuleGetFunction);
  lookup("cuLaunchKernel", d.cuLaunchKernel);
  lookup("cuMemAlloc", d.cuMemAlloc);
  lookup("cuMemFree", d.cuMemFree);
  lookup("cuMemcpyHtoDAsync", d.cuMemcpyHtoDAsync);
  lookup("cuMemcpyDtoHAsync", d.cuMemcpyDtoHAsync);
  lookup("cuMemAllocHost", d.cuMemAllocHost);
  lookup("cuMemFreeHost", d.cuMemFreeHost);
  lookup("cuStreamBeginCapture", d.cuStreamBeginCapture);
  lookup("cuStreamEndCapture", d.cuStreamEndCapture);
  lookup("cuGraphInstantiateWithFlags", d.cuGraphInstantiateWithFlags);
  lookup("cuGraphLaunch", d.cuGraphLaunch);
  lookup("cuGraphExecDestroy", d.cuGraphExecDestroy);
  lookup("cuGraphDestroy", d.cuGraphDestroy);
  if (!found) return;
  const CUresult init = d.cuInit(0);
  if (init != kSuccess) {
    kiln_context_set_error(context, KILN_UNAVAILABLE, ("cuInit: " + ErrorText(d, init)).c_str());
    return;
  }
  const CUresult get = d.cuDeviceGet(&s.device, device);
  if (get != kSuccess) {
    kiln_context_set_error(
        context, KILN_UNAVAILABLE,
        ("cuDeviceGet(" + std::to_string(device) + "): " + ErrorText(d, get)).c_str());
    return;
  }
  if (!Check(context, s, d.cuDevicePrimaryCtxRetain(&s.context, s.device),
             "cuDevicePrimaryCtxRetain"))
    return;
  if (!Check(context, s, d.cuCtxSetCurrent(s.context), "cuCtxSetCurrent") ||
      !Check(context, s, d.cuStreamCreate(&s.stream, 0), "cuStreamCreate")) {
    d.cuDevicePrimaryCtxRelease(s.device);
    return;
  }
  s.ready = true;
}

}  // namespace

State* Ready(kiln_context* context) {
  const kiln_status_code status = kiln_context_status(context);
  if (status != KILN_OK && status != KILN_OUT_OF_RANGE) return nullptr;
  State* s = GetState(context);
  if (s == nullptr || !s->ready) {
    kiln_context_set_error(context, KILN_FAILED_PRECONDITION,
                           "not a CUDA context (kiln_cuda_context_create)");
    return nullptr;
  }
  if (!Check(context, *s, s->driver.cuCtxSetCurrent(s->context), "cuCtxSetCurrent")) return nullptr;
  return s;
}

namespace {

// Reports check `c` if its finding is a bad position: reads the index there and sets OUT_OF_RANGE
// with kiln_rt_index_error's message. True when it reported (or failed to read).
bool ReportIndex(kiln_context* context, State& s, const DeferredCheck& c) {
  const int64_t first = *c.finding;
  if (first >= c.n || first < 0) return false;
  int64_t index = 0;
  int32_t index32 = 0;
  void* host = c.bytes == 4 ? static_cast<void*>(&index32) : static_cast<void*>(&index);
  const CUdeviceptr at =
      reinterpret_cast<CUdeviceptr>(c.indices) + static_cast<CUdeviceptr>(first * c.bytes);
  const Driver& d = s.driver;
  if (!Check(context, s, d.cuMemcpyDtoHAsync(host, at, c.bytes, s.stream),
             "cuMemcpyDtoHAsync (index check)") ||
      !Check(context, s, d.cuStreamSynchronize(s.stream), "cuStreamSynchronize (index check)")) {
    return true;
  }
  kiln_rt_index_error(context, c.where, c.what, first, c.bytes == 4 ? index32 : index, c.limit);
  return true;
}

}  // namespace
}  // namespace cuda_internal
}  // namespace kiln

using namespace kiln::cuda_internal;  // NOLINT: the C API below is this file's whole purpose

struct kiln_cuda_graph {
  Handle graph = nullptr, exec = nullptr;
  std::vector<DeferredCheck> checks;  // their findings are pinned memory this graph owns
};

extern "C" {

kiln_context* kiln_cuda_context_create_with_driver(const char* driver_path, int device) {
  kiln_context* context = kiln_context_create(1);
  if (context != nullptr) Attach(context, driver_path, device);
  return context;
}

kiln_context* kiln_cuda_context_create(int device) {
  const char* driver = std::getenv("KILN_CUDA_DRIVER");
  return kiln_cuda_context_create_with_driver(
      driver != nullptr && *driver != '\0' ? driver : "libcuda.so.1", device);
}

uint64_t kiln_cuda_alloc(kiln_context* context, size_t bytes) {
  State* s = Ready(context);
  CUdeviceptr p = 0;
  if (s == nullptr) return 0;
  if (const CUresult r = s->driver.cuMemAlloc(&p, bytes); r != kSuccess) {
    Fail(context, *s, r, "cuMemAlloc(" + std::to_string(bytes) + ")");
    return 0;
  }
  return p;
}

void kiln_cuda_free(kiln_context* context, uint64_t device_memory) {
  State* s = Ready(context);
  if (s != nullptr && device_memory != 0)
    Check(context, *s, s->driver.cuMemFree(device_memory), "cuMemFree");
}

void kiln_cuda_copy_to_device(kiln_context* context, uint64_t device, const void* host,
                              size_t bytes) {
  State* s = Ready(context);
  if (s != nullptr)
    Check(context, *s, s->driver.cuMemcpyHtoDAsync(device, host, bytes, s->stream),
          "cuMemcpyHtoDAsync");
}

void kiln_cuda_copy_to_host(kiln_context* context, void* host, uint64_t device, size_t bytes) {
  State* s = Ready(context);
  if (s != nullptr)
    Check(context, *s, s->driver.cuMemcpyDtoHAsync(host, device, bytes, s->stream),
          "cuMemcpyDtoHAsync");
}

void kiln_cuda_synchronize(kiln_context* context) {
  State* s = Ready(context);
  if (s == nullptr ||
      !Check(context, *s, s->driver.cuStreamSynchronize(s->stream), "cuStreamSynchronize"))
    return;
  // Index checks of the replays waited for, in program order; the first bad one is reported.
  std::vector<DeferredCheck> checks;
  checks.swap(s->pending_checks);
  for (const DeferredCheck& c : checks) {
    if (ReportIndex(context, *s, c)) break;
  }
}

void kiln_rt_cuda_launch(kiln_context* context, const char* image, const char* kernel,
                         const int64_t* params, void** args) {
  State* s = Ready(context);
  if (s == nullptr) return;
  std::lock_guard<std::mutex> lock(s->mu);
  Handle& function = s->functions[{image, kernel}];
  if (function == nullptr) {
    Handle& module = s->modules[image];
    if (module == nullptr && !Check(context, *s, s->driver.cuModuleLoadData(&module, image),
                                    "cuModuleLoadData", kernel)) {
      s->modules.erase(image);
      s->functions.erase({image, kernel});
      return;
    }
    if (!Check(context, *s, s->driver.cuModuleGetFunction(&function, module, kernel),
               "cuModuleGetFunction", kernel)) {
      s->functions.erase({image, kernel});
      return;
    }
  }
  auto u = [](int64_t v) { return static_cast<unsigned>(v); };
  Check(
      context, *s,
      s->driver.cuLaunchKernel(function, u(params[0]), u(params[1]), u(params[2]), u(params[3]),
                               u(params[4]), u(params[5]), u(params[6]), s->stream, args, nullptr),
      "cuLaunchKernel", kernel);
}

void kiln_rt_cuda_check_index(kiln_context* context, const int64_t* params, const char* where,
                              const char* what, const void* position, const void* indices) {
  State* s = Ready(context);
  if (s == nullptr) return;
  const int64_t n = params[0], limit = params[1], bytes = params[2];
  const Driver& d = s->driver;
  if (s->capturing) {
    // No waiting inside a capture: the finding is copied to pinned memory at each replay and read
    // at the next synchronize.
    void* finding = nullptr;
    if (!Check(context, *s, d.cuMemAllocHost(&finding, sizeof(int64_t)),
               "cuMemAllocHost (index check)"))
      return;
    s->captured_checks.push_back(
        {static_cast<int64_t*>(finding), n, limit, bytes, where, what, indices});
    Check(context, *s,
          d.cuMemcpyDtoHAsync(finding, reinterpret_cast<CUdeviceptr>(position), sizeof(int64_t),
                              s->stream),
          "cuMemcpyDtoHAsync (index check)");
    return;
  }
  int64_t first = n;
  if (!Check(context, *s,
             d.cuMemcpyDtoHAsync(&first, reinterpret_cast<CUdeviceptr>(position), sizeof first,
                                 s->stream),
             "cuMemcpyDtoHAsync (index check)") ||
      !Check(context, *s, d.cuStreamSynchronize(s->stream), "cuStreamSynchronize (index check)")) {
    return;
  }
  ReportIndex(context, *s, {&first, n, limit, bytes, where, what, indices});
}

void kiln_cuda_capture_begin(kiln_context* context) {
  State* s = Ready(context);
  if (s == nullptr) return;
  if (s->capturing) {
    kiln_context_set_error(context, KILN_FAILED_PRECONDITION,
                           "kiln_cuda_capture_begin: a capture is under way");
    return;
  }
  if (Check(context, *s, s->driver.cuStreamBeginCapture(s->stream, kCaptureModeThreadLocal),
            "cuStreamBeginCapture")) {
    s->capturing = true;
  }
}

kiln_cuda_graph* kiln_cuda_capture_end(kiln_context* context) {
  State* state = GetState(context);
  if (state == nullptr || !state->ready || !state->capturing) {
    if (kiln_context_status(context) == KILN_OK) {
      kiln_context_set_error(context, KILN_FAILED_PRECONDITION,
                             "kiln_cuda_capture_end: no capture under way");
    }
    return nullptr;
  }
  State& s = *state;
  // The capture ends even after an error inside it, so the stream is usable again.
  s.capturing = false;
  auto graph = std::make_unique<kiln_cuda_graph>();
  graph->checks = std::move(s.captured_checks);
  s.captured_checks.clear();
  const CUresult ended = s.driver.cuStreamEndCapture(s.stream, &graph->graph);
  if (kiln_context_status(context) != KILN_OK &&
      kiln_context_status(context) != KILN_OUT_OF_RANGE) {
    kiln_cuda_graph_destroy(context, graph.release());
    return nullptr;
  }
  if (!Check(context, s, ended, "cuStreamEndCapture") ||
      !Check(context, s, s.driver.cuGraphInstantiateWithFlags(&graph->exec, graph->graph, 0),
             "cuGraphInstantiateWithFlags")) {
    kiln_cuda_graph_destroy(context, graph.release());
    return nullptr;
  }
  return graph.release();
}

void kiln_cuda_graph_launch(kiln_context* context, kiln_cuda_graph* graph) {
  State* s = Ready(context);
  if (s == nullptr) return;
  if (graph == nullptr || graph->exec == nullptr) {
    kiln_context_set_error(context, KILN_INVALID_ARGUMENT, "kiln_cuda_graph_launch: no graph");
    return;
  }
  if (Check(context, *s, s->driver.cuGraphLaunch(graph->exec, s->stream), "cuGraphLaunch")) {
    s->pending_checks.insert(s->pending_checks.end(), graph->checks.begin(), graph->checks.end());
  }
}

void kiln_cuda_graph_destroy(kiln_context* context, kiln_cuda_graph* graph) {
  if (graph == nullptr) return;
  State* state = GetState(context);
  if (state != nullptr && state->ready) {
    State& s = *state;
    s.driver.cuCtxSetCurrent(s.context);
    // A replay still queued may write these: wait for it first.
    if (!graph->checks.empty()) s.driver.cuStreamSynchronize(s.stream);
    for (const DeferredCheck& c : graph->checks) {
      s.driver.cuMemFreeHost(c.finding);
      auto& pending = s.pending_checks;
      pending.erase(std::remove_if(pending.begin(), pending.end(),
                                   [&](const DeferredCheck& p) { return p.finding == c.finding; }),
                    pending.end());
    }
    if (graph->exec != nullptr) s.driver.cuGraphExecDestroy(graph->exec);
    if (graph->graph != nullptr) s.driver.cuGraphDestroy(graph->graph);
  }
  delete graph;
}

void kiln_rt_cuda_check_index_prepare(kiln_context*, const int64_t*) {}  // nothing to make ahead

}  // extern "C"
