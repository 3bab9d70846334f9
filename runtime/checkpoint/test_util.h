// Helpers for the checkpoint tests: scratch directories, raw file bytes, and variables that own
// their storage.
#ifndef KILN_RUNTIME_CHECKPOINT_TEST_UTIL_H_
#define KILN_RUNTIME_CHECKPOINT_TEST_UTIL_H_

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/kiln_runtime.h"
#include "runtime/require_ok.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {
namespace testing {

// An empty directory `name` under the test's scratch space (emptied if a previous run left it).
inline std::string FreshDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, FTW*) { return std::remove(path); }, 16,
      FTW_DEPTH | FTW_PHYS);
  REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  return dir;
}

// The names in `dir`, sorted, without "." and "..".
inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A model's variables with their own storage, viewed as the kiln_tensors a compiled graph lists.
class Vars {
 public:
  // Adds a variable whose bytes are a pattern drawn from `seed`: different seeds, different bytes.
  Vars& Add(std::string name, kiln_dtype dtype, std::vector<int64_t> shape, uint32_t seed) {
    int64_t elements = 1;
    for (int64_t d : shape) elements *= d;
    Var v{std::move(name), dtype, std::move(shape),
          std::vector<uint8_t>(elements * kiln_dtype_size(dtype))};
    for (size_t i = 0; i < v.bytes.size(); ++i) {
      v.bytes[i] =
          static_cast<uint8_t>((static_cast<uint32_t>(i) * 2654435761u + seed * 40503u) >> 24);
    }
    vars_.push_back(std::move(v));
    return *this;
  }

  // The same variables with every byte `fill`: a model about to load.
  Vars Filled(uint8_t fill) const {
    Vars out = *this;
    for (Var& v : out.vars_) std::fill(v.bytes.begin(), v.bytes.end(), fill);
    return out;
  }

  bool AllBytesAre(uint8_t fill) const {
    for (const Var& v : vars_) {
      if (std::count(v.bytes.begin(), v.bytes.end(), fill) !=
          static_cast<std::ptrdiff_t>(v.bytes.size())) {
        return false;
      }
    }
    return true;
  }

  // Views of the variables, valid until the next Add.
  kiln_tensor* tensors() {
    views_.clear();
    for (Var& v : vars_) {
      views_.push_back({v.name.c_str(), v.dtype, static_cast<int32_t>(v.shape.size()),
                        v.shape.data(), v.bytes.data()});
    }
    return views_.data();
  }
  size_t size() const { return vars_.size(); }
  std::vector<uint8_t>& bytes(size_t i) { return vars_[i].bytes; }
  const std::vector<uint8_t>& bytes(size_t i) const { return vars_[i].bytes; }

 private:
  struct Var {
    std::string name;
    kiln_dtype dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Var> vars_;
  std::vector<kiln_tensor> views_;
};

}  // namespace testing
}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_CHECKPOINT_TEST_UTIL_H_
