#include "runtime/kiln_bundle.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/atomic_file.h"
#include "runtime/crc32c.h"
#include "runtime/elf_loader.h"
#include "runtime/kiln_runtime.h"
#include "runtime/little_endian.h"
#include "runtime/status.h"

namespace {

using kiln::rt::DataLossError;
using kiln::rt::FailedPreconditionError;
using kiln::rt::Status;
using kiln::rt::StatusOr;

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'B', 'N', 'D', 'L'};

uint64_t Le(const char* p, int bytes) { return kiln::rt::GetLittleEndian(p, bytes); }

struct Weight {
  kiln_dtype dtype;
  std::vector<int64_t> dims;
  const void* data;
  uint64_t bytes;
};

struct Signature {
  std::string name;
  kiln_model_info info = {};
  std::unique_ptr<kiln::rt::ElfModule> code;
  void (*run)(void** arrays, kiln_context* context, void* arena) = nullptr;
  void (*prepare)(kiln_context* context) = nullptr;
  std::vector<const void*> variables;  // in the bundle's mapping
  int32_t num_inputs = 0, num_outputs = 0;
  ~Signature() { kiln_model_info_release(&info); }
};

// True when a signature compiled for `target` (its spec) runs on this machine.
bool RunsHere(const std::string& target) {
#if defined(__x86_64__)
  return target.rfind("x86_64", 0) == 0 && target.rfind("x86_64-native", 0) != 0;
#else
  return false;
#endif
}

// External symbols of the generated code: the caller's table, the runtime's own hooks, then the
// process's (the C library, libm, kernel libraries linked as shared libraries).
// float → bfloat16, rounding to nearest even (NaNs stay NaNs): the compiler builtin LLVM calls
// for the cast, which Debian 12's libgcc (GCC 12) lacks. Its result goes back in an SSE register
// as the ABI returns a bf16; _Float16 is returned there too, so it carries the bits.
_Float16 TruncSfBf2(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t bits = (u & 0x7fffffffu) > 0x7f800000u
                      ? static_cast<uint16_t>((u >> 16) | 0x40)
                      : static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return h;
}

void* Resolve(const kiln_bundle_options& options, const std::string& name) {
  for (size_t i = 0; i < options.num_symbols; ++i) {
    if (name == options.symbols[i].name) return options.symbols[i].address;
  }
#define KILN_HOOK(hook, library, kernel, variant, operands, params) KILN_CORE_SYMBOL_##library(hook)
#define KILN_CORE_SYMBOL_CORE(hook) \
  if (name == #hook) return reinterpret_cast<void*>(&hook);
#define KILN_CORE_SYMBOL_DNNL(hook)
#define KILN_CORE_SYMBOL_CUDA(hook)
#include "runtime/hooks.def"
#undef KILN_CORE_SYMBOL_CORE
#undef KILN_CORE_SYMBOL_DNNL
#undef KILN_CORE_SYMBOL_CUDA
  if (name == "__truncsfbf2") {
    void* own = dlsym(RTLD_DEFAULT, "__truncsfbf2");  // a newer libgcc's
    return own != nullptr ? own : reinterpret_cast<void*>(&TruncSfBf2);
  }
  return dlsym(RTLD_DEFAULT, name.c_str());
}

}  // namespace

struct kiln_bundle {
  std::string path;
  void* map = nullptr;  // the mapped file (null for a bundle in the caller's memory)
  const void* data = nullptr;
  size_t size = 0;
  std::map<std::string, Weight> weights;
  uint64_t weights_entry = 0, weights_offset = 0, weights_size = 0;  // the WEIGHTS section
  std::vector<std::unique_ptr<Signature>> signatures;
  // Training signatures update the weights in place: the mapping's weight pages are made writable
  // (copy on write: the file is never changed, and only the pages written are copied).
  bool weights_writable = false;
  ~kiln_bundle() {
    signatures.clear();
    if (map != nullptr) munmap(map, size);
  }
};

namespace {

Status Parse(kiln_bundle* b, const kiln_bundle_options& options) {
  const char* file = static_cast<const char*>(b->data);
  const uint64_t size = b->size;
  if (size < KILN_BUNDLE_HEADER_BYTES || std::memcmp(file, kMagic, 8) != 0)
    return DataLossError("not a Kiln bundle (no \"KILNBNDL\" magic)");
  if (kiln::rt::Crc32c(file, 60) != Le(file + 60, 4))
    return DataLossError("header checksum mismatch");
  const uint32_t version = Le(file + 8, 4), abi = Le(file + 12, 4);
  if (version > KILN_BUNDLE_FORMAT_VERSION) {
    return FailedPreconditionError("format version " + std::to_string(version) +
                                   " is newer than this runtime reads (" +
                                   std::to_string(KILN_BUNDLE_FORMAT_VERSION) + ")");
  }
  if (abi > KILN_MODEL_ABI_VERSION) {
    return FailedPreconditionError("model ABI version " + std::to_string(abi) +
                                   " is newer than this runtime's (" +
                                   std::to_string(KILN_MODEL_ABI_VERSION) + ")");
  }
  if (Le(file + 16, 8) != size) {
    return DataLossError("truncated or extended: the header says " +
                         std::to_string(Le(file + 16, 8)) + " bytes, the file has " +
                         std::to_string(size));
  }
  const uint64_t table = Le(file + 24, 8), count = Le(file + 32, 4);
  if (table > size || count > (size - table) / KILN_BUNDLE_SECTION_BYTES)
    return DataLossError("section table out of range");
  if (kiln::rt::Crc32c(file + table, count * KILN_BUNDLE_SECTION_BYTES) != Le(file + 36, 4))
    return DataLossError("section table checksum mismatch");

  struct Section {
    uint32_t kind, signature;
    const char* data;
    uint64_t size;
    uint64_t entry;  // the table entry's offset in the file
  };
  std::vector<Section> sections;
  for (uint64_t i = 0; i < count; ++i) {
    const char* e = file + table + i * KILN_BUNDLE_SECTION_BYTES;
    Section s{static_cast<uint32_t>(Le(e, 4)), static_cast<uint32_t>(Le(e + 4, 4)), nullptr,
              Le(e + 16, 8), table + i * KILN_BUNDLE_SECTION_BYTES};
    const uint64_t offset = Le(e + 8, 8);
    if (offset > size || s.size > size - offset)
      return DataLossError("section " + std::to_string(i) + " lies outside the file");
    s.data = file + offset;
    if (kiln::rt::Crc32c(s.data, s.size) != Le(e + 24, 4))
      return DataLossError("section " + std::to_string(i) + " checksum mismatch");
    sections.push_back(s);
  }

  // The weights.
  const Section* weights = nullptr;
  for (const Section& s : sections) {
    if (s.kind == KILN_SECTION_WEIGHTS) weights = &s;
  }
  if (weights != nullptr) {
    b->weights_entry = weights->entry;
    b->weights_offset = static_cast<uint64_t>(weights->data - file);
    b->weights_size = weights->size;
  }
  for (const Section& s : sections) {
    if (s.kind != KILN_SECTION_WEIGHTS_INDEX) continue;
    if (weights == nullptr) return DataLossError("a weights index without weights");
    uint64_t at = 0;
    auto need = [&](uint64_t n) { return n <= s.size && at <= s.size - n; };
    if (!need(4)) return DataLossError("weights index truncated");
    const uint32_t n = Le(s.data, 4);
    at = 4;
    for (uint32_t t = 0; t < n; ++t) {
      if (!need(4)) return DataLossError("weights index truncated");
      const uint32_t name_size = Le(s.data + at, 4);
      at += 4;
      if (!need(uint64_t{name_size} + 8)) return DataLossError("weights index truncated");
      std::string name(s.data + at, name_size);
      at += name_size;
      Weight w;
      const uint32_t dtype = Le(s.data + at, 4);
      const uint32_t rank = Le(s.data + at + 4, 4);
      at += 8;
      if (dtype < KILN_F32 || dtype > KILN_BOOL || rank > KILN_MODEL_MAX_RANK ||
          !need(8 * uint64_t{rank} + 16)) {
        return DataLossError("weights index: tensor '" + name + "' is malformed");
      }
      w.dtype = static_cast<kiln_dtype>(dtype);
      uint64_t bytes = kiln_dtype_size(w.dtype);
      bool overflow = false;
      for (uint32_t d = 0; d < rank; ++d) {
        const uint64_t dim = Le(s.data + at + 8 * d, 8);
        overflow |= dim > (uint64_t{1} << 62) || __builtin_mul_overflow(bytes, dim, &bytes);
        w.dims.push_back(static_cast<int64_t>(dim));
      }
      at += 8 * rank;
      const uint64_t offset = Le(s.data + at, 8);
      w.bytes = Le(s.data + at + 8, 8);
      at += 16;
      if (overflow || bytes != w.bytes)
        return DataLossError("weights index: tensor '" + name + "' has a size its shape does not");
      if (offset % 64 != 0 || offset > weights->size || w.bytes > weights->size - offset)
        return DataLossError("weights index: tensor '" + name + "' lies outside the weights");
      w.data = weights->data + offset;
      b->weights[name] = std::move(w);
    }
  }

  // The signatures this machine runs, and their code.
  std::map<uint32_t, const Section*> code;
  for (const Section& s : sections) {
    if (s.kind == KILN_SECTION_CODE) code[s.signature] = &s;
  }
  std::vector<std::string> elsewhere;
  uint32_t index = 0;
  for (const Section& s : sections) {
    if (s.kind != KILN_SECTION_SIGNATURE) continue;
    const uint32_t this_index = index++;
    if (s.size < 4 || Le(s.data, 4) > s.size - 4) return DataLossError("a signature is truncated");
    auto sig = std::make_unique<Signature>();
    const uint32_t name_size = Le(s.data, 4);
    sig->name.assign(s.data + 4, name_size);
    const uint64_t description = (4 + uint64_t{name_size} + 7) / 8 * 8;
    if (description > s.size) return DataLossError("signature '" + sig->name + "' is truncated");
    char message[256];
    kiln_status_code parsed = kiln_model_info_parse(s.data + description, s.size - description,
                                                    &sig->info, message, sizeof(message));
    if (parsed != KILN_OK) return Status(parsed, "signature '" + sig->name + "': " + message);
    if (!RunsHere(sig->info.target)) {
      elsewhere.push_back(sig->name + " (" + sig->info.target + ")");
      continue;
    }
    auto c = code.find(this_index);
    if (c == code.end()) return DataLossError("signature '" + sig->name + "' has no code");
    for (int32_t a = 0; a < sig->info.num_args; ++a) {
      const kiln_model_arg& arg = sig->info.args[a];
      if (arg.role == KILN_ROLE_INPUT) ++sig->num_inputs;
      if (arg.role == KILN_ROLE_OUTPUT) ++sig->num_outputs;
      if (arg.role != KILN_ROLE_VARIABLE) continue;
      auto w = b->weights.find(arg.name);
      if (w == b->weights.end())
        return DataLossError("signature '" + sig->name + "': no weights for '" + arg.name + "'");
      const bool same = w->second.dtype == arg.dtype && w->second.bytes == arg.bytes &&
                        w->second.dims == std::vector<int64_t>(arg.dims, arg.dims + arg.rank);
      if (!same) {
        return DataLossError("signature '" + sig->name + "': the weights of '" + arg.name +
                             "' have another type or shape");
      }
      sig->variables.push_back(w->second.data);
    }
    if (!options.load_code) {
      b->signatures.push_back(std::move(sig));
      continue;
    }
    StatusOr<std::unique_ptr<kiln::rt::ElfModule>> module =
        kiln::rt::ElfModule::Load(c->second->data, c->second->size,
                                  [&](const std::string& name) { return Resolve(options, name); });
    if (!module.ok()) {
      return Status(module.status().code(),
                    "signature '" + sig->name + "': " + module.status().message());
    }
    sig->code = std::move(*module);
    const std::string run = std::string(sig->info.run_entry) + "_packed";
    sig->run = reinterpret_cast<void (*)(void**, kiln_context*, void*)>(sig->code->Find(run));
    sig->prepare =
        reinterpret_cast<void (*)(kiln_context*)>(sig->code->Find(sig->info.prepare_entry));
    if (sig->run == nullptr)
      return DataLossError("signature '" + sig->name + "': its code lacks " + run);
    b->signatures.push_back(std::move(sig));
  }
  if (b->signatures.empty()) {
    std::string list;
    for (const std::string& e : elsewhere) list += (list.empty() ? "" : ", ") + e;
    return FailedPreconditionError("no signature for this machine (x86_64)" +
                                   (list.empty() ? std::string() : ": it has " + list));
  }
  return kiln::rt::OkStatus();
}

kiln_status_code Fail(const Status& s, const std::string& path, char* message, size_t size) {
  if (message != nullptr && size > 0) {
    const std::string text = path + ": " + s.message();
    std::snprintf(message, size, "%s", text.c_str());
  }
  return s.code();
}

}  // namespace

extern "C" {

kiln_bundle_options kiln_bundle_default_options(void) {
  kiln_bundle_options options = {};
  options.load_code = 1;
  return options;
}

kiln_status_code kiln_bundle_open(const char* path, const kiln_bundle_options* options,
                                  kiln_bundle** bundle, char* message, size_t message_size) {
  *bundle = nullptr;
  const kiln_bundle_options opts = options ? *options : kiln_bundle_default_options();
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Fail(Status(e == ENOENT ? KILN_NOT_FOUND : KILN_UNAVAILABLE,
                       std::string("cannot open: ") + std::strerror(e)),
                path, message, message_size);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Fail(kiln::rt::InvalidArgumentError("not a regular file"), path, message, message_size);
  }
  auto b = std::make_unique<kiln_bundle>();
  b->path = path;
  b->size = static_cast<size_t>(st.st_size);
  if (b->size > 0) {
    b->map = mmap(nullptr, b->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (b->map == MAP_FAILED) b->map = nullptr;
  }
  close(fd);
  if (b->map == nullptr) {
    return Fail(b->size == 0 ? DataLossError("empty file") : Status(KILN_UNAVAILABLE, "cannot map"),
                path, message, message_size);
  }
  b->data = b->map;
  Status s = Parse(b.get(), opts);
  if (!s.ok()) return Fail(s, path, message, message_size);
  const bool trains = std::any_of(b->signatures.begin(), b->signatures.end(),
                                  [](const auto& sig) { return sig->info.training != 0; });
  if (trains && b->weights_size > 0) {
    // The WEIGHTS section is page-aligned in the file, so in the mapping.
    const long page = sysconf(_SC_PAGESIZE);
    char* start = static_cast<char*>(b->map) + b->weights_offset;
    const uint64_t length = (b->weights_size + page - 1) / page * page;
    if (reinterpret_cast<uintptr_t>(start) % page != 0 ||
        mprotect(start, length, PROT_READ | PROT_WRITE) != 0) {
      return Fail(Status(KILN_UNAVAILABLE, "cannot make the weights writable for training"), path,
                  message, message_size);
    }
    b->weights_writable = true;
  }
  *bundle = b.release();
  return KILN_OK;
}

kiln_status_code kiln_bundle_open_memory(const void* data, size_t size,
                                         const kiln_bundle_options* options, kiln_bundle** bundle,
                                         char* message, size_t message_size) {
  *bundle = nullptr;
  const kiln_bundle_options opts = options ? *options : kiln_bundle_default_options();
  auto b = std::make_unique<kiln_bundle>();
  b->path = "<memory>";
  b->data = data;
  b->size = size;
  // The weights are used in place: the bundle's 64-byte alignment must hold in memory too.
  Status s = size == 0 || data == nullptr ? DataLossError("empty file")
             : reinterpret_cast<uintptr_t>(data) % 64 != 0
                 ? kiln::rt::InvalidArgumentError("the bundle's memory is not 64-byte aligned")
                 : Parse(b.get(), opts);
  if (!s.ok()) return Fail(s, b->path, message, message_size);
  *bundle = b.release();
  return KILN_OK;
}

void kiln_bundle_close(kiln_bundle* bundle) { delete bundle; }

int32_t kiln_bundle_num_signatures(const kiln_bundle* bundle) {
  return static_cast<int32_t>(bundle->signatures.size());
}

const char* kiln_bundle_signature_name(const kiln_bundle* bundle, int32_t signature) {
  return bundle->signatures[signature]->name.c_str();
}

const kiln_model_info* kiln_bundle_signature(const kiln_bundle* bundle, int32_t signature) {
  return &bundle->signatures[signature]->info;
}

int32_t kiln_bundle_find(const kiln_bundle* bundle, const char* name) {
  for (size_t i = 0; i < bundle->signatures.size(); ++i) {
    if (bundle->signatures[i]->name == name) return static_cast<int32_t>(i);
  }
  return -1;
}

int64_t kiln_bundle_batch_size(const kiln_bundle* bundle, int32_t signature) {
  const kiln_model_info& info = bundle->signatures[signature]->info;
  for (int32_t i = 0; i < info.num_args; ++i) {
    if (info.args[i].role == KILN_ROLE_INPUT)
      return info.args[i].rank > 0 ? info.args[i].dims[0] : 1;
  }
  return 1;
}

int32_t kiln_bundle_find_batch(const kiln_bundle* bundle, const char* name, int64_t batch) {
  int32_t best = -1;
  for (size_t i = 0; i < bundle->signatures.size(); ++i) {
    if (bundle->signatures[i]->name != name) continue;
    const int64_t size = kiln_bundle_batch_size(bundle, static_cast<int32_t>(i));
    if (size >= batch && (best < 0 || size < kiln_bundle_batch_size(bundle, best)))
      best = static_cast<int32_t>(i);
  }
  return best;
}

void kiln_bundle_prepare(const kiln_bundle* bundle, int32_t signature, kiln_context* context) {
  const Signature& sig = *bundle->signatures[signature];
  if (sig.prepare != nullptr) sig.prepare(context);
}

kiln_status_code kiln_bundle_write_weights(const kiln_bundle* bundle, const kiln_tensor* tensors,
                                           size_t n, const char* path, char* message,
                                           size_t message_size) {
  if (n != 0 && n != bundle->weights.size()) {
    return Fail(kiln::rt::InvalidArgumentError(std::to_string(n) + " tensors for the bundle's " +
                                               std::to_string(bundle->weights.size()) + " weights"),
                path, message, message_size);
  }
  const char* file = static_cast<const char*>(bundle->data);
  std::string copy(file, bundle->size);
  for (size_t i = 0; i < n; ++i) {
    const kiln_tensor& t = tensors[i];
    auto w = bundle->weights.find(t.name ? t.name : "");
    const bool same = w != bundle->weights.end() && t.dtype == w->second.dtype &&
                      std::vector<int64_t>(t.shape, t.shape + t.rank) == w->second.dims &&
                      t.data != nullptr;
    if (!same) {
      return Fail(kiln::rt::InvalidArgumentError(std::string("tensor '") + (t.name ? t.name : "") +
                                                 "' is no weight of the bundle of that type "
                                                 "and shape"),
                  path, message, message_size);
    }
    std::memcpy(&copy[static_cast<const char*>(w->second.data) - file], t.data, w->second.bytes);
  }
  char* h = copy.data();
  kiln::rt::PutLittleEndian(h + bundle->weights_entry + 24,
                            kiln::rt::Crc32c(h + bundle->weights_offset, bundle->weights_size), 4);
  const uint64_t table = Le(h + 24, 8), count = Le(h + 32, 4);
  kiln::rt::PutLittleEndian(h + 36, kiln::rt::Crc32c(h + table, count * KILN_BUNDLE_SECTION_BYTES),
                            4);
  kiln::rt::PutLittleEndian(h + 60, kiln::rt::Crc32c(h, 60), 4);
  // Atomically: a reader (a server polling for new versions) never sees half a bundle.
  const std::string temp = kiln::rt::TempPathFor(path);
  FILE* out = std::fopen(temp.c_str(), "wb");
  bool ok = out != nullptr && std::fwrite(copy.data(), 1, copy.size(), out) == copy.size();
  if (out != nullptr) ok = std::fclose(out) == 0 && ok;
  Status s =
      ok ? kiln::rt::SyncFile(temp)
         : kiln::rt::UnavailableError("cannot write '" + temp + "': " + std::strerror(errno));
  if (s.ok()) s = kiln::rt::CommitTempFile(temp, path);
  if (!s.ok()) {
    std::remove(temp.c_str());
    return Fail(s, path, message, message_size);
  }
  return KILN_OK;
}

kiln_status_code kiln_bundle_run(const kiln_bundle* bundle, int32_t signature,
                                 const void* const* inputs, void* const* outputs,
                                 kiln_context* context) {
  const Signature& sig = *bundle->signatures[signature];
  if (sig.run == nullptr) {
    kiln_context_set_error(context, KILN_FAILED_PRECONDITION,
                           "the bundle was opened without its code (load_code 0)");
    return KILN_FAILED_PRECONDITION;
  }
  if (sig.info.training && !bundle->weights_writable) {
    kiln_context_set_error(context, KILN_FAILED_PRECONDITION,
                           ("signature '" + sig.name +
                            "' is a training step, which updates the weights: open the bundle "
                            "from a file (a bundle in the caller's memory is read-only)")
                               .c_str());
    return KILN_FAILED_PRECONDITION;
  }
  std::vector<void*> arrays;
  arrays.reserve(sig.info.num_args);
  for (int32_t i = 0; i < sig.num_inputs; ++i) arrays.push_back(const_cast<void*>(inputs[i]));
  // Read, not written, except by a training step (weights_writable).
  for (const void* v : sig.variables) arrays.push_back(const_cast<void*>(v));
  for (int32_t i = 0; i < sig.num_outputs; ++i) arrays.push_back(outputs[i]);
  void* arena = nullptr;
  if (sig.info.arena_bytes > 0 &&
      posix_memalign(&arena, 64, static_cast<size_t>(sig.info.arena_bytes)) != 0) {
    kiln_context_set_error(context, KILN_RESOURCE_EXHAUSTED, "cannot allocate the scratch arena");
    return KILN_RESOURCE_EXHAUSTED;
  }
  sig.run(arrays.data(), context, arena);
  std::free(arena);
  return kiln_context_status(context);
}

}  // extern "C"
