// libFuzzer target: arbitrary bytes through the bundle loader (kiln_bundle_open_memory), code
// loading included (the ELF loader), never running the code.
//
// Each input is opened twice: as it is (the checks of the header, table and checksums), and
// "resealed": the header's file size and every CRC the file carries recomputed, so that mutations
// reach what the checksums guard (the table's offsets, the descriptions, the weights index, the
// ELF objects). Besides "no crash, no sanitizer report, no leak", every error must have a message.
// Built and run by testing/fuzz_build_and_run.sh (//test/bundle:bundle_fuzz_test); see
// docs/fuzzing.md.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/crc32c.h"
#include "runtime/kiln_bundle.h"
#include "runtime/little_endian.h"

namespace {

void NeverCalled() { std::abort(); }

// Every hook the code may call, so that objects with oneDNN calls load too (the code never runs).
const kiln_symbol kHooks[] = {
#define KILN_HOOK(hook, library, kernel, variant, operands, params) \
  {#hook, reinterpret_cast<void*>(&NeverCalled)},
#include "runtime/hooks.def"
};

void Open(const std::string& bytes) {
  // 64-byte aligned, as a mapped file is.
  void* data = nullptr;
  if (posix_memalign(&data, 64, bytes.size() + 1) != 0) std::abort();
  std::memcpy(data, bytes.data(), bytes.size());
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  kiln_bundle_options options = kiln_bundle_default_options();
  options.symbols = kHooks;
  options.num_symbols = sizeof(kHooks) / sizeof(kHooks[0]);
  kiln_status_code code =
      kiln_bundle_open_memory(data, bytes.size(), &options, &bundle, message, sizeof message);
  if (code == KILN_OK) {
    for (int32_t i = 0; i < kiln_bundle_num_signatures(bundle); ++i) {
      const kiln_model_info* info = kiln_bundle_signature(bundle, i);
      if (info == nullptr || kiln_bundle_signature_name(bundle, i) == nullptr) std::abort();
    }
    kiln_bundle_close(bundle);
  } else if (message[0] == '\0' || bundle != nullptr) {
    std::fprintf(stderr, "bundle_fuzzer: an error (%d) without a message\n", code);
    std::abort();
  }
  std::free(data);
}

std::string Resealed(std::string file) {
  if (file.size() < KILN_BUNDLE_HEADER_BYTES) return file;
  char* h = file.data();
  kiln::rt::PutLittleEndian(h + 16, file.size(), 8);
  const uint64_t table = kiln::rt::GetLittleEndian(h + 24, 8);
  const uint64_t count = kiln::rt::GetLittleEndian(h + 32, 4);
  if (table <= file.size() && count <= (file.size() - table) / KILN_BUNDLE_SECTION_BYTES) {
    for (uint64_t i = 0; i < count; ++i) {
      char* e = h + table + i * KILN_BUNDLE_SECTION_BYTES;
      const uint64_t offset = kiln::rt::GetLittleEndian(e + 8, 8);
      const uint64_t size = kiln::rt::GetLittleEndian(e + 16, 8);
      if (offset <= file.size() && size <= file.size() - offset)
        kiln::rt::PutLittleEndian(e + 24, kiln::rt::Crc32c(h + offset, size), 4);
    }
    kiln::rt::PutLittleEndian(h + 36,
                              kiln::rt::Crc32c(h + table, count * KILN_BUNDLE_SECTION_BYTES), 4);
  }
  kiln::rt::PutLittleEndian(h + 60, kiln::rt::Crc32c(h, 60), 4);
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Open(bytes);
  Open(Resealed(bytes));
  return 0;
}
