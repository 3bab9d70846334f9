#include "runtime/kiln_model.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "runtime/little_endian.h"

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'M', 'O', 'D', 'L'};
constexpr size_t kHeaderBytes = 68;
constexpr size_t kArgBytes = 32;

// Reads a description, remembering the first thing wrong with it.
class Reader {
 public:
  Reader(const unsigned char* data, size_t size) : data_(data), size_(size) {}

  uint32_t U32(size_t at) {
    if (!Fits(at, 4, "a field")) return 0;
    return static_cast<uint32_t>(
        kiln::rt::GetLittleEndian(reinterpret_cast<const char*>(data_ + at), 4));
  }
  uint64_t U64(size_t at) {
    if (!Fits(at, 8, "a field")) return 0;
    return kiln::rt::GetLittleEndian(reinterpret_cast<const char*>(data_ + at), 8);
  }
  // The string whose offset is at `at`.
  const char* String(size_t at, const char* what) {
    const uint32_t offset = U32(at);
    if (!error_.empty()) return "";
    if (offset >= size_) return Fail(std::string(what) + " starts outside the description"), "";
    const void* end = std::memchr(data_ + offset, '\0', size_ - offset);
    if (end == nullptr) return Fail(std::string(what) + " is not terminated"), "";
    return reinterpret_cast<const char*>(data_ + offset);
  }
  bool Fits(size_t at, size_t bytes, const char* what) {
    if (at <= size_ && bytes <= size_ - at) return true;
    Fail(std::string(what) + " lies outside the description");
    return false;
  }
  void Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
  }
  const std::string& error() const { return error_; }

 private:
  const unsigned char* data_;
  size_t size_;
  std::string error_;
};

kiln_status_code Report(kiln_status_code code, const std::string& text, char* message,
                        size_t message_size) {
  if (message != nullptr && message_size > 0)
    std::snprintf(message, message_size, "%s", text.c_str());
  return code;
}

// What the view allocates: the argument records and the hooks' names.
struct Storage {
  std::vector<kiln_model_arg> args;
  std::vector<const char*> hooks;
};

}  // namespace

extern "C" {

const char* kiln_arg_role_name(kiln_arg_role role) {
  switch (role) {
    case KILN_ROLE_INPUT: return "input";
    case KILN_ROLE_VARIABLE: return "variable";
    case KILN_ROLE_OUTPUT: return "output";
  }
  return "?";
}

kiln_status_code kiln_model_info_parse(const void* data, size_t size, kiln_model_info* info,
                                       char* message, size_t message_size) {
  *info = kiln_model_info{};
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (data == nullptr || size < kHeaderBytes || std::memcmp(bytes, kMagic, sizeof kMagic) != 0) {
    return Report(KILN_DATA_LOSS, "not a Kiln model description (no KILNMODL header)", message,
                  message_size);
  }
  Reader r(bytes, size);
  const uint32_t version = r.U32(8);
  if (version > KILN_MODEL_ABI_VERSION || version == 0) {
    return Report(KILN_FAILED_PRECONDITION,
                  "model description ABI version " + std::to_string(version) +
                      "; this runtime reads version " + std::to_string(KILN_MODEL_ABI_VERSION),
                  message, message_size);
  }
  if (r.U32(12) != size) {
    return Report(KILN_DATA_LOSS,
                  "model description of " + std::to_string(r.U32(12)) + " bytes given as " +
                      std::to_string(size),
                  message, message_size);
  }
  kiln_model_info view{};
  view.abi_version = version;
  view.name = r.String(16, "the name");
  view.fingerprint = r.String(20, "the fingerprint");
  view.target = r.String(24, "the target");
  view.training = (r.U32(28) & 1) != 0;
  view.arena_bytes = r.U64(32);
  view.init_entry = r.String(40, "the init entry");
  view.run_entry = r.String(44, "the run entry");
  view.prepare_entry = r.String(48, "the prepare entry");
  const uint32_t num_args = r.U32(52), args_at = r.U32(56), num_hooks = r.U32(60),
                 hooks_at = r.U32(64);
  auto* storage = new (std::nothrow) Storage;
  if (storage == nullptr)
    return Report(KILN_RESOURCE_EXHAUSTED, "out of memory", message, message_size);
  // Counts are checked against the space their records take before anything is allocated for them.
  if (r.Fits(args_at, static_cast<size_t>(num_args) * kArgBytes, "the argument records") &&
      r.Fits(hooks_at, static_cast<size_t>(num_hooks) * 4, "the hook names")) {
    storage->args.resize(num_args);
    for (uint32_t i = 0; i < num_args && r.error().empty(); ++i) {
      const size_t at = args_at + static_cast<size_t>(i) * kArgBytes;
      kiln_model_arg& a = storage->args[i];
      a.name = r.String(at, "an argument's name");
      a.identifier = r.String(at + 4, "an argument's identifier");
      const uint32_t role = r.U32(at + 8), dtype = r.U32(at + 12), rank = r.U32(at + 16),
                     dims_at = r.U32(at + 20);
      a.bytes = r.U64(at + 24);
      // Only known values are stored in the enums (anything else would be undefined to read back).
      if (role > KILN_ROLE_OUTPUT) r.Fail("argument " + std::to_string(i) + " has an unknown role");
      if (dtype < KILN_F32 || dtype > KILN_BOOL)
        r.Fail("argument " + std::to_string(i) + " has an unknown dtype");
      if (!r.error().empty()) break;
      a.role = static_cast<kiln_arg_role>(role);
      a.dtype = static_cast<kiln_dtype>(dtype);
      if (rank > KILN_MODEL_MAX_RANK) r.Fail("argument " + std::to_string(i) + " has rank over 8");
      if (!r.error().empty() || !r.Fits(dims_at, rank * 8, "an argument's dims")) break;
      a.rank = static_cast<int32_t>(rank);
      a.elements = 1;
      for (uint32_t d = 0; d < rank; ++d) {
        a.dims[d] = static_cast<int64_t>(r.U64(dims_at + d * 8));
        if (a.dims[d] < 0 ||
            (a.dims[d] > 0 && a.elements > UINT64_MAX / static_cast<uint64_t>(a.dims[d]))) {
          r.Fail("argument " + std::to_string(i) + " has a bad dimension");
          break;
        }
        a.elements *= static_cast<uint64_t>(a.dims[d]);
      }
      if (r.error().empty() && a.bytes != a.elements * kiln_dtype_size(a.dtype)) {
        r.Fail("argument " + std::to_string(i) +
               "'s byte count disagrees with its shape and dtype");
      }
    }
    storage->hooks.resize(num_hooks);
    for (uint32_t i = 0; i < num_hooks && r.error().empty(); ++i) {
      storage->hooks[i] = r.String(hooks_at + static_cast<size_t>(i) * 4, "a hook's name");
    }
  }
  if (!r.error().empty()) {
    delete storage;
    return Report(KILN_DATA_LOSS, "malformed model description: " + r.error(), message,
                  message_size);
  }
  view.num_args = static_cast<int32_t>(num_args);
  view.args = storage->args.data();
  view.num_hooks = static_cast<int32_t>(num_hooks);
  view.hooks = storage->hooks.data();
  view.storage_ = storage;
  *info = view;
  return KILN_OK;
}

void kiln_model_info_release(kiln_model_info* info) {
  delete static_cast<Storage*>(info->storage_);
  *info = kiln_model_info{};
}

}  // extern "C"
