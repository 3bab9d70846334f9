#include "codegen/bundle.h"

#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "runtime/crc32c.h"
#include "runtime/kiln_bundle.h"
#include "runtime/little_endian.h"

namespace kiln {
namespace {

using rt::AppendLittleEndian;
using rt::PutLittleEndian;

void Pad(std::string* s, size_t alignment) {
  s->resize((s->size() + alignment - 1) / alignment * alignment, '\0');
}

struct Section {
  uint32_t kind, signature;
  std::string bytes;
  size_t alignment;
};

}  // namespace

absl::StatusOr<std::string> SerializeBundle(const std::vector<BundleSignature>& signatures,
                                            const std::vector<BundleWeight>& weights) {
  std::vector<Section> sections;
  std::set<std::string> names;
  for (size_t i = 0; i < signatures.size(); ++i) {
    const BundleSignature& s = signatures[i];
    // Signatures may share a name (one model at several batch sizes), not a description.
    if (!names.insert(s.name + '\0' + s.description).second)
      return absl::InvalidArgumentError(absl::StrCat("signature '", s.name, "' twice"));
    std::string bytes;
    AppendLittleEndian(&bytes, s.name.size(), 4);
    bytes += s.name;
    Pad(&bytes, 8);
    bytes += s.description;
    sections.push_back({KILN_SECTION_SIGNATURE, 0, std::move(bytes), 8});
    sections.push_back({KILN_SECTION_CODE, static_cast<uint32_t>(i), s.code, 16});
  }
  std::string index, data;
  AppendLittleEndian(&index, weights.size(), 4);
  names.clear();
  for (const BundleWeight& w : weights) {
    if (!names.insert(w.name).second)
      return absl::InvalidArgumentError(absl::StrCat("weight '", w.name, "' twice"));
    uint64_t elements = 1;
    for (int64_t d : w.dims) elements *= static_cast<uint64_t>(d);
    if (elements * kiln_dtype_size(w.dtype) != w.data.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight '", w.name, "': ", w.data.size(), " bytes for its type and shape"));
    }
    AppendLittleEndian(&index, w.name.size(), 4);
    index += w.name;
    AppendLittleEndian(&index, w.dtype, 4);
    AppendLittleEndian(&index, w.dims.size(), 4);
    for (int64_t d : w.dims) AppendLittleEndian(&index, static_cast<uint64_t>(d), 8);
    Pad(&data, 64);
    AppendLittleEndian(&index, data.size(), 8);
    AppendLittleEndian(&index, w.data.size(), 8);
    data += w.data;
  }
  sections.push_back({KILN_SECTION_WEIGHTS_INDEX, 0, std::move(index), 8});
  sections.push_back({KILN_SECTION_WEIGHTS, 0, std::move(data), 4096});

  std::string file(KILN_BUNDLE_HEADER_BYTES, '\0');
  std::string table;
  for (const Section& s : sections) {
    Pad(&file, s.alignment);
    AppendLittleEndian(&table, s.kind, 4);
    AppendLittleEndian(&table, s.signature, 4);
    AppendLittleEndian(&table, file.size(), 8);
    AppendLittleEndian(&table, s.bytes.size(), 8);
    AppendLittleEndian(&table, rt::Crc32c(s.bytes.data(), s.bytes.size()), 4);
    AppendLittleEndian(&table, 0, 4);
    file += s.bytes;
  }
  Pad(&file, 8);
  const uint64_t table_offset = file.size();
  file += table;
  char* h = file.data();
  std::memcpy(h, "KILNBNDL", 8);
  PutLittleEndian(h + 8, KILN_BUNDLE_FORMAT_VERSION, 4);
  PutLittleEndian(h + 12, KILN_MODEL_ABI_VERSION, 4);
  PutLittleEndian(h + 16, file.size(), 8);
  PutLittleEndian(h + 24, table_offset, 8);
  PutLittleEndian(h + 32, sections.size(), 4);
  PutLittleEndian(h + 36, rt::Crc32c(table.data(), table.size()), 4);
  PutLittleEndian(h + 60, rt::Crc32c(h, 60), 4);
  return file;
}

}  // namespace kiln
