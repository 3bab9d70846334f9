// Scratch files for tests: paths under the test's TEST_TMPDIR, and whole-file reads and writes.
#ifndef KILN_TESTING_TEMP_FILES_H_
#define KILN_TESTING_TEMP_FILES_H_

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace kiln {
namespace testing {

// TEST_TMPDIR/name (/tmp/name outside Bazel).
inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

// The file's bytes ("" when it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Replaces the file's contents with `bytes`.
inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace testing
}  // namespace kiln

#endif  // KILN_TESTING_TEMP_FILES_H_
