#include "runtime/elf_loader.h"

#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace kiln {
namespace rt {
namespace {

constexpr size_t kStubBytes = 16;  // jmp *[rip+0]; .quad target; 2 bytes of padding

size_t AlignUp(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// Reads T at `offset` of the object, or fails: every read of the file goes through here.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  bool Get(uint64_t offset, T* out) const {
    if (offset > size_ || sizeof(T) > size_ - offset) return false;
    std::memcpy(out, data_ + offset, sizeof(T));
    return true;
  }
  bool Contains(uint64_t offset, uint64_t bytes) const {
    return offset <= size_ && bytes <= size_ - offset;
  }
  const uint8_t* At(uint64_t offset) const { return data_ + offset; }

 private:
  const uint8_t* data_;
  size_t size_;
};

Status Malformed(const std::string& what) { return DataLossError("malformed ELF object: " + what); }

}  // namespace

StatusOr<std::unique_ptr<ElfModule>> ElfModule::Load(const void* data, size_t size,
                                                     const SymbolResolver& resolve) {
  Reader file(static_cast<const uint8_t*>(data), size);
  Elf64_Ehdr header;
  if (!file.Get(0, &header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    return Malformed("no ELF header");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
      header.e_machine != EM_X86_64) {
    return FailedPreconditionError("the object is not for x86-64 (machine " +
                                   std::to_string(header.e_machine) + ")");
  }
  if (header.e_type != ET_REL) return FailedPreconditionError("not a relocatable object");
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 ||
      !file.Contains(header.e_shoff, uint64_t{header.e_shnum} * sizeof(Elf64_Shdr))) {
    return Malformed("section headers out of range");
  }
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  for (size_t i = 0; i < sections.size(); ++i)
    file.Get(header.e_shoff + i * sizeof(Elf64_Shdr), &sections[i]);
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_type != SHT_NOBITS && s.sh_type != SHT_NULL && !file.Contains(s.sh_offset, s.sh_size))
      return Malformed("a section lies outside the file");
    // Zero-filled sections take no file bytes; bound them so that the layout cannot overflow.
    if (s.sh_type == SHT_NOBITS && s.sh_size > (uint64_t{1} << 32))
      return Malformed("a zero-filled section of over 4 GiB");
    if (s.sh_addralign > 4096) return Malformed("a section's alignment is over 4096");
  }

  // The symbol table and its strings.
  const Elf64_Shdr* symtab = nullptr;
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_type == SHT_SYMTAB) symtab = &s;
  }
  if (symtab == nullptr || symtab->sh_entsize != sizeof(Elf64_Sym) ||
      symtab->sh_link >= sections.size()) {
    return Malformed("no symbol table");
  }
  const Elf64_Shdr& strtab = sections[symtab->sh_link];
  if (strtab.sh_type != SHT_STRTAB) return Malformed("the symbol names are not a string table");
  const size_t num_symbols = symtab->sh_size / sizeof(Elf64_Sym);
  std::vector<Elf64_Sym> symbols(num_symbols);
  for (size_t i = 0; i < num_symbols; ++i)
    file.Get(symtab->sh_offset + i * sizeof(Elf64_Sym), &symbols[i]);
  auto name_of = [&](uint32_t offset, std::string* out) {
    if (offset >= strtab.sh_size) return false;
    const char* begin = reinterpret_cast<const char*>(file.At(strtab.sh_offset + offset));
    const void* end = std::memchr(begin, 0, strtab.sh_size - offset);
    if (end == nullptr) return false;
    *out = std::string(begin, static_cast<const char*>(end));
    return true;
  };

  // Section names live in the section-header string table, not the symbol strings.
  if (header.e_shstrndx >= sections.size()) return Malformed("no section name table");
  const Elf64_Shdr& shstrtab = sections[header.e_shstrndx];
  if (shstrtab.sh_type != SHT_STRTAB) return Malformed("the section names are not a string table");
  auto section_name = [&](const Elf64_Shdr& s) {
    if (s.sh_name >= shstrtab.sh_size) return std::string();
    const char* begin = reinterpret_cast<const char*>(file.At(shstrtab.sh_offset + s.sh_name));
    const void* end = std::memchr(begin, 0, shstrtab.sh_size - s.sh_name);
    return end ? std::string(begin, static_cast<const char*>(end)) : std::string();
  };
  // Layout: executable sections, a stub per external function, then (from a page boundary) the
  // other allocated sections and the GOT. Only allocated sections are loaded, and not .eh_frame:
  // nothing unwinds through generated code.
  std::vector<size_t> address(sections.size(), SIZE_MAX);
  size_t cursor = 0;
  for (size_t i = 0; i < sections.size(); ++i) {
    const Elf64_Shdr& s = sections[i];
    if (!(s.sh_flags & SHF_ALLOC) || !(s.sh_flags & SHF_EXECINSTR)) continue;
    cursor = AlignUp(cursor, s.sh_addralign ? s.sh_addralign : 1);
    address[i] = cursor;
    cursor += s.sh_size;
  }

  // External symbols: one stub (for calls) and one GOT slot (for address loads) each.
  std::map<size_t, size_t> stub_of, got_of;  // symbol index → offset in the mapping
  std::vector<std::pair<size_t, std::string>> externals;
  for (size_t i = 1; i < num_symbols; ++i) {
    if (symbols[i].st_shndx != SHN_UNDEF) continue;
    std::string name;
    if (!name_of(symbols[i].st_name, &name))
      return Malformed("a symbol name lies outside its table");
    if (name.empty()) continue;
    externals.emplace_back(i, name);
  }
  cursor = AlignUp(cursor, 16);
  for (const auto& [index, name] : externals) {
    stub_of[index] = cursor;
    cursor += kStubBytes;
  }
  const size_t code_bytes = AlignUp(cursor, static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  cursor = code_bytes;
  for (size_t i = 0; i < sections.size(); ++i) {
    const Elf64_Shdr& s = sections[i];
    if (!(s.sh_flags & SHF_ALLOC) || (s.sh_flags & SHF_EXECINSTR)) continue;
    if (section_name(s) == ".eh_frame") continue;
    cursor = AlignUp(cursor, s.sh_addralign ? s.sh_addralign : 1);
    address[i] = cursor;
    cursor += s.sh_size;
  }
  // Every relocation of a loaded section, checked: fn(target section index, relocation, type,
  // symbol index) returns OK to go on.
  auto for_each_relocation = [&](auto fn) -> Status {
    for (size_t i = 0; i < sections.size(); ++i) {
      const Elf64_Shdr& s = sections[i];
      if (s.sh_type != SHT_RELA || s.sh_info >= sections.size() || address[s.sh_info] == SIZE_MAX)
        continue;
      if (s.sh_entsize != sizeof(Elf64_Rela)) return Malformed("a relocation table's entry size");
      for (uint64_t r = 0; r < s.sh_size / sizeof(Elf64_Rela); ++r) {
        Elf64_Rela rela;
        file.Get(s.sh_offset + r * sizeof(Elf64_Rela), &rela);
        const size_t sym = ELF64_R_SYM(rela.r_info);
        if (sym >= num_symbols) return Malformed("a relocation's symbol index");
        Status status = fn(s.sh_info, rela, ELF64_R_TYPE(rela.r_info), sym);
        if (!status.ok()) return status;
      }
    }
    return OkStatus();
  };
  // A GOT slot for every symbol (defined or not) that a GOT relocation names.
  cursor = AlignUp(cursor, 8);
  Status counted = for_each_relocation([&](size_t, const Elf64_Rela&, uint32_t type, size_t sym) {
    if ((type == R_X86_64_GOTPCREL || type == R_X86_64_GOTPCRELX ||
         type == R_X86_64_REX_GOTPCRELX) &&
        !got_of.count(sym)) {
      got_of[sym] = cursor;
      cursor += 8;
    }
    return OkStatus();
  });
  if (!counted.ok()) return counted;
  const size_t total =
      AlignUp(std::max<size_t>(cursor, 1), static_cast<size_t>(sysconf(_SC_PAGESIZE)));

  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return ResourceExhaustedError("cannot map " + std::to_string(total) + " bytes for code");
  std::unique_ptr<ElfModule> module(new ElfModule());
  module->base_ = base;
  module->size_ = total;
  uint8_t* const image = static_cast<uint8_t*>(base);
  for (size_t i = 0; i < sections.size(); ++i) {
    if (address[i] == SIZE_MAX || sections[i].sh_type == SHT_NOBITS) continue;
    std::memcpy(image + address[i], file.At(sections[i].sh_offset), sections[i].sh_size);
  }

  // Symbol addresses.
  std::vector<uint64_t> value(num_symbols, 0);
  for (const auto& [index, name] : externals) {
    void* target = resolve(name);
    if (target == nullptr)
      return NotFoundError("the object needs '" + name + "', which is not known here");
    uint8_t* stub = image + stub_of[index];
    const uint8_t jump[6] = {0xff, 0x25, 0, 0, 0, 0};  // jmp *[rip+0]: the address that follows
    std::memcpy(stub, jump, sizeof(jump));
    const uint64_t target_address = reinterpret_cast<uint64_t>(target);
    std::memcpy(stub + 6, &target_address, 8);
    value[index] = target_address;
  }
  for (size_t i = 1; i < num_symbols; ++i) {
    const Elf64_Sym& sym = symbols[i];
    if (sym.st_shndx == SHN_UNDEF) continue;
    if (sym.st_shndx == SHN_ABS) {
      value[i] = sym.st_value;
      continue;
    }
    if (sym.st_shndx >= sections.size()) return Malformed("a symbol's section index");
    if (address[sym.st_shndx] == SIZE_MAX) continue;  // in a section not loaded
    if (sym.st_value > sections[sym.st_shndx].sh_size)
      return Malformed("a symbol lies outside its section");
    value[i] = reinterpret_cast<uint64_t>(image + address[sym.st_shndx] + sym.st_value);
    std::string name;
    if (ELF64_ST_BIND(sym.st_info) == STB_GLOBAL && name_of(sym.st_name, &name) && !name.empty())
      module->symbols_[name] = image + address[sym.st_shndx] + sym.st_value;
  }
  for (const auto& [sym, slot] : got_of) std::memcpy(image + slot, &value[sym], 8);

  // Relocations.
  Status applied = for_each_relocation(
      [&](size_t section, const Elf64_Rela& rela, uint32_t type, size_t sym) -> Status {
        const Elf64_Shdr& target = sections[section];
        const size_t width = type == R_X86_64_64 ? 8 : 4;
        if (rela.r_offset > target.sh_size || width > target.sh_size - rela.r_offset)
          return Malformed("a relocation outside its section");
        uint8_t* place = image + address[section] + rela.r_offset;
        const uint64_t p = reinterpret_cast<uint64_t>(place);
        uint64_t s_value = value[sym];
        if (symbols[sym].st_shndx == SHN_UNDEF && stub_of.count(sym) &&
            (type == R_X86_64_PLT32 || type == R_X86_64_PC32)) {
          s_value = reinterpret_cast<uint64_t>(image + stub_of[sym]);  // near, unlike the target
        }
        int64_t relative;
        switch (type) {
          case R_X86_64_NONE: return OkStatus();
          case R_X86_64_64: {
            const uint64_t v = s_value + rela.r_addend;
            std::memcpy(place, &v, 8);
            return OkStatus();
          }
          case R_X86_64_PC32:
          case R_X86_64_PLT32: relative = static_cast<int64_t>(s_value + rela.r_addend - p); break;
          case R_X86_64_GOTPCREL:
          case R_X86_64_GOTPCRELX:
          case R_X86_64_REX_GOTPCRELX:
            relative = static_cast<int64_t>(reinterpret_cast<uint64_t>(image + got_of[sym]) +
                                            rela.r_addend - p);
            break;
          default:
            return FailedPreconditionError("relocation type " + std::to_string(type) +
                                           " is not supported");
        }
        if (relative < INT32_MIN || relative > INT32_MAX)
          return Malformed("a 32-bit relocation out of range");
        const int32_t v = static_cast<int32_t>(relative);
        std::memcpy(place, &v, 4);
        return OkStatus();
      });
  if (!applied.ok()) return applied;
  if (mprotect(base, code_bytes, PROT_READ | PROT_EXEC) != 0)
    return InternalError("cannot make the code executable");
  return module;
}

ElfModule::~ElfModule() {
  if (base_ != nullptr) munmap(base_, size_);
}

void* ElfModule::Find(const std::string& name) const {
  auto it = symbols_.find(name);
  return it == symbols_.end() ? nullptr : it->second;
}

}  // namespace rt
}  // namespace kiln
