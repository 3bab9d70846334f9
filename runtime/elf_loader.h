// Loads the relocatable x86-64 ELF objects kilnc writes (ET_REL) into executable memory, without a
// system linker or dlopen, as IREE's embedded ELF loader does: the code needs no file on disk, no
// exported symbols in the app (a static link works), and no loader state outside the module. A
// bundle (kiln_bundle.h) holds such objects.
//
// It lays the allocated sections out in one mapping (code, then a stub per external function,
// then data and a GOT), applies the relocations LLVM emits for position-independent x86-64 code
// (R_X86_64_64, PC32, PLT32, GOTPCREL, GOTPCRELX, REX_GOTPCRELX), and makes the code read-only
// executable. Everything in the file is bounds-checked first: a malformed object is an error, never
// a wild read or write.
#ifndef KILN_RUNTIME_ELF_LOADER_H_
#define KILN_RUNTIME_ELF_LOADER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/status.h"

namespace kiln {
namespace rt {

// The address of an external symbol the object calls or reads, or nullptr if unknown.
using SymbolResolver = std::function<void*(const std::string& name)>;

class ElfModule {
 public:
  // Loads the `size` bytes at `data` (which need not outlive the module). Errors: DATA_LOSS for a
  // malformed object (naming what is wrong), FAILED_PRECONDITION for an object of another machine
  // or kind, or a relocation this loader does not apply, NOT_FOUND naming an external symbol that
  // `resolve` does not know.
  static StatusOr<std::unique_ptr<ElfModule>> Load(const void* data, size_t size,
                                                   const SymbolResolver& resolve);
  ~ElfModule();
  ElfModule(const ElfModule&) = delete;
  ElfModule& operator=(const ElfModule&) = delete;

  // The address of a global symbol the object defines, or nullptr.
  void* Find(const std::string& name) const;
  size_t mapped_bytes() const { return size_; }

 private:
  ElfModule() = default;
  void* base_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, void*> symbols_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_ELF_LOADER_H_
