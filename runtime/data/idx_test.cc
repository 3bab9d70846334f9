#include "runtime/data/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "testing/temp_files.h"

namespace kiln {
namespace rt {
namespace {

using ::kiln::testing::ReadFile;
using ::kiln::testing::TempPath;
using ::kiln::testing::WriteFile;

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), bytes.size()) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

// `value`'s bytes, most significant first.
template <typename T>
std::string BigEndian(T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  uint64_t v = 0;
  for (size_t i = sizeof(T); i-- > 0;) v = v << 8 | bytes[i];  // the test machine is little-endian
  std::string out;
  for (size_t i = sizeof(T); i-- > 0;) out += static_cast<char>(v >> (8 * i));
  return out;
}

// An IDX file: magic, type, rank, extents, then `data` (already big-endian).
std::string Idx(uint8_t type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) out += BigEndian(d);
  return out + data;
}

const std::string kSixBytes("\x00\x01\x02\x7f\x80\xff", 6);

TEST_CASE("ReadIdx reads u8 arrays from gzip and plain files") {
  const std::string bytes = Idx(0x08, {2, 3}, kSixBytes);
  for (const bool gzip : {true, false}) {
    INFO("gzip " << gzip);
    const std::string path = TempPath(gzip ? "u8.idx.gz" : "u8.idx");
    gzip ? WriteGzip(path, bytes) : WriteFile(path, bytes);
    if (gzip) REQUIRE(ReadFile(path).substr(0, 2) == "\x1f\x8b");
    StatusOr<IdxArray> array = ReadIdx(path);
    REQUIRE(array.ok());
    REQUIRE(array->type == IdxType::kU8);
    REQUIRE(array->dims == std::vector<int64_t>{2, 3});
    REQUIRE(array->num_elements() == 6);
    REQUIRE(array->bytes == std::vector<uint8_t>(kSixBytes.begin(), kSixBytes.end()));
    REQUIRE(array->data<uint8_t>()[5] == 255);
    REQUIRE(array->data<float>() == nullptr);
  }
}

TEST_CASE("ReadIdx decodes big-endian elements of every type") {
  const std::string path = TempPath("typed.idx.gz");
  auto read = [&](uint8_t type, const std::string& data, uint32_t n) {
    WriteGzip(path, Idx(type, {n}, data));
    StatusOr<IdxArray> array = ReadIdx(path);
    REQUIRE(array.ok());
    REQUIRE(static_cast<uint8_t>(array->type) == type);
    REQUIRE(array->num_elements() == n);
    return std::move(array).value();
  };
  IdxArray i8 = read(0x09, "\xff\x05", 2);
  REQUIRE(i8.data<int8_t>()[0] == -1);
  REQUIRE(i8.data<int8_t>()[1] == 5);
  IdxArray i16 = read(0x0B, BigEndian<int16_t>(-2) + BigEndian<int16_t>(0x1234), 2);
  REQUIRE(i16.data<int16_t>()[0] == -2);
  REQUIRE(i16.data<int16_t>()[1] == 0x1234);
  IdxArray i32 = read(0x0C, BigEndian<int32_t>(-123456789) + BigEndian<int32_t>(7), 2);
  REQUIRE(i32.data<int32_t>()[0] == -123456789);
  REQUIRE(i32.data<int32_t>()[1] == 7);
  IdxArray f32 = read(0x0D, BigEndian(1.5f) + BigEndian(-0.25f), 2);
  REQUIRE(f32.data<float>()[0] == 1.5f);
  REQUIRE(f32.data<float>()[1] == -0.25f);
  IdxArray f64 = read(0x0E, BigEndian(3.141592653589793), 1);
  REQUIRE(f64.data<double>()[0] == 3.141592653589793);
  REQUIRE(f64.data<float>() == nullptr);
  // The encoding is the format's, not the host's: 1.5f is 0x3FC00000.
  REQUIRE(BigEndian(1.5f) == std::string("\x3f\xc0\x00\x00", 4));
}

TEST_CASE("ReadIdx reads an array with a zero extent") {
  const std::string path = TempPath("empty.idx");
  WriteFile(path, Idx(0x0D, {0xFFFFFFFF, 0, 0xFFFFFFFF}, ""));
  StatusOr<IdxArray> array = ReadIdx(path);
  REQUIRE(array.ok());
  REQUIRE(array->dims == std::vector<int64_t>{0xFFFFFFFF, 0, 0xFFFFFFFF});
  REQUIRE(array->bytes.empty());
}

// The error ReadIdx gives for a file holding `bytes` (plain, or gzip-compressed).
Status ReadError(const std::string& bytes, bool gzip = false) {
  const std::string path = TempPath(gzip ? "bad.idx.gz" : "bad.idx");
  gzip ? WriteGzip(path, bytes) : WriteFile(path, bytes);
  StatusOr<IdxArray> array = ReadIdx(path);
  REQUIRE(!array.ok());
  REQUIRE(array.status().message().find(path) != std::string::npos);
  return array.status();
}

TEST_CASE("ReadIdx rejects files that are not IDX") {
  const std::string missing = TempPath("does_not_exist.idx.gz");
  StatusOr<IdxArray> array = ReadIdx(missing);
  REQUIRE(array.status().code() == KILN_NOT_FOUND);
  REQUIRE(array.status().message() == "cannot open '" + missing + "': No such file or directory");

  Status s = ReadError(std::string("\x00\x01\x08\x01", 4) + BigEndian<uint32_t>(1) + "x");
  REQUIRE(s.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(s.message().find("not an IDX file (magic 0x0001, expected 0x0000)") != std::string::npos);
  s = ReadError(Idx(0x0A, {1}, "x"), /*gzip=*/true);
  REQUIRE(s.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(s.message().find("unknown IDX element type 0x0a") != std::string::npos);
  s = ReadError(Idx(0x08, {}, "x"));
  REQUIRE(s.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(s.message().find("rank 0") != std::string::npos);

  array = ReadIdx(std::getenv("TEST_TMPDIR"));  // a directory
  REQUIRE(array.status().code() == KILN_UNAVAILABLE);
  REQUIRE(array.status().message().find("Is a directory") != std::string::npos);
}

TEST_CASE("ReadIdx reports truncated files and how much data they hold") {
  const std::string good = Idx(0x0B, {3}, std::string(6, '\1'));
  Status s = ReadError(good.substr(0, good.size() - 2));
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(s.message() ==
          "'" + TempPath("bad.idx") + "': truncated: header declares 6 bytes of data, found 4");
  s = ReadError(good.substr(0, good.size() - 2), /*gzip=*/true);
  REQUIRE(s.message() ==
          "'" + TempPath("bad.idx.gz") + "': truncated: header declares 6 bytes of data, found 4");
  s = ReadError(good.substr(0, 6));
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(s.message().find("truncated: header declares 1 dimensions, found 2 of their 4 bytes") !=
          std::string::npos);
  s = ReadError("");
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(s.message().find("truncated: 0 of 4 header bytes") != std::string::npos);

  // A header declaring far more than the file holds is caught by reading, without allocating it.
  s = ReadError(Idx(0x08, {0xFFFFFFFF, 0xFFFFFFFF}, "12345678"));
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(
      s.message().find("truncated: header declares 18446744065119617025 bytes of data, found 8") !=
      std::string::npos);
  s = ReadError(Idx(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "x"));
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(s.message().find("[4294967295, 4294967295, 4294967295], over 2^64 bytes of data") !=
          std::string::npos);
}

TEST_CASE("ReadIdx rejects a gzip file cut at any length") {
  const std::string path = TempPath("whole.idx.gz");
  WriteGzip(path, Idx(0x0C, {4, 5}, std::string(80, '\3')));
  REQUIRE(ReadIdx(path).ok());
  const std::string gz = ReadFile(path);
  for (size_t size = 0; size < gz.size(); ++size) {
    INFO("cut to " << size << " of " << gz.size() << " bytes");
    const std::string cut_path = TempPath("cut.idx.gz");
    WriteFile(cut_path, gz.substr(0, size));
    StatusOr<IdxArray> array = ReadIdx(cut_path);
    REQUIRE(array.status().code() == KILN_DATA_LOSS);
    REQUIRE(array.status().message().find("truncated") != std::string::npos);
  }
}

TEST_CASE("ReadIdx rejects bytes after the data and corrupt gzip streams") {
  const std::string bytes = Idx(0x08, {2, 3}, kSixBytes) + "extra";
  for (const bool gzip : {true, false}) {
    Status s = ReadError(bytes, gzip);
    REQUIRE(s.code() == KILN_DATA_LOSS);
    REQUIRE(s.message().find("5 bytes after the 6 bytes of data the header declares") !=
            std::string::npos);
  }
  const std::string path = TempPath("corrupt.idx.gz");
  WriteGzip(path, Idx(0x08, {2, 3}, kSixBytes));
  std::string gz = ReadFile(path);
  gz[gz.size() - 6] ^= 1;  // the CRC-32 of the data, in the gzip trailer
  WriteFile(path, gz);
  StatusOr<IdxArray> array = ReadIdx(path);
  INFO(array.status().ToString());
  REQUIRE(array.status().code() == KILN_DATA_LOSS);
  REQUIRE(array.status().message().find("corrupt gzip stream: incorrect data check") !=
          std::string::npos);
}

// Writes a Fashion-MNIST-like test split (grey images of `image_dims`, `labels`) to
// TEST_TMPDIR/name.
std::string WriteFakeFashion(const std::string& name, const std::vector<uint32_t>& image_dims,
                             const std::vector<uint8_t>& labels) {
  const std::string dir = TempPath(name);
  mkdir(dir.c_str(), 0755);
  uint32_t pixels = 1;
  for (uint32_t d : image_dims) pixels *= d;
  WriteGzip(dir + "/t10k-images-idx3-ubyte.gz", Idx(0x08, image_dims, std::string(pixels, '\x80')));
  WriteGzip(dir + "/t10k-labels-idx1-ubyte.gz", Idx(0x08, {static_cast<uint32_t>(labels.size())},
                                                    std::string(labels.begin(), labels.end())));
  return dir;
}

TEST_CASE("LoadFashionMnist checks shapes, counts and labels") {
  std::string dir = WriteFakeFashion("fashion_good", {3, 28, 28}, {0, 9, 4});
  StatusOr<FashionMnist> data = LoadFashionMnist(dir, "test");
  REQUIRE(data.ok());
  REQUIRE(data->images.dims == std::vector<int64_t>{3, 28, 28});
  REQUIRE(data->labels.bytes == std::vector<uint8_t>{0, 9, 4});

  data = LoadFashionMnist(dir, "train");
  REQUIRE(data.status().code() == KILN_NOT_FOUND);
  REQUIRE(data.status().message().find(dir + "/train-images-idx3-ubyte.gz") != std::string::npos);
  data = LoadFashionMnist(dir, "validation");
  REQUIRE(data.status().code() == KILN_INVALID_ARGUMENT);
  REQUIRE(data.status().message().find("no split 'validation'") != std::string::npos);

  dir = WriteFakeFashion("fashion_bad_label", {3, 28, 28}, {0, 10, 4});
  data = LoadFashionMnist(dir, "test");
  REQUIRE(data.status().code() == KILN_DATA_LOSS);
  REQUIRE(data.status().message().find("label 10 at index 1 is not a class (0 to 9)") !=
          std::string::npos);

  dir = WriteFakeFashion("fashion_count", {3, 28, 28}, {0, 1});
  data = LoadFashionMnist(dir, "test");
  REQUIRE(data.status().code() == KILN_DATA_LOSS);
  REQUIRE(data.status().message().find("holds 2 labels but") != std::string::npos);
  REQUIRE(data.status().message().find(" 3 images") != std::string::npos);

  dir = WriteFakeFashion("fashion_shape", {3, 28, 27}, {0, 1, 2});
  data = LoadFashionMnist(dir, "test");
  REQUIRE(data.status().code() == KILN_INVALID_ARGUMENT);
  REQUIRE(data.status().message().find("expected u8 [n, 28, 28] images, found u8 [3, 28, 27]") !=
          std::string::npos);
}

TEST_CASE("LoadFashionMnist reads Debian's Fashion-MNIST test split") {
  StatusOr<FashionMnist> data = LoadFashionMnist(kDefaultFashionMnistDir, "test");
  // The data is a dependency (setup.sh installs it), not an optional extra: missing, the test
  // fails.
  INFO("needs Debian's dataset-fashion-mnist (./setup.sh installs it)");
  REQUIRE(data.ok());
  REQUIRE(data->images.dims == std::vector<int64_t>{10000, 28, 28});
  REQUIRE(data->labels.dims == std::vector<int64_t>{10000});
  // The test split holds 1000 images of each class, and pixels span the whole range.
  std::vector<int> per_class(10);
  for (uint8_t label : data->labels.bytes) ++per_class.at(label);
  REQUIRE(per_class == std::vector<int>(10, 1000));
  const std::vector<uint8_t>& pixels = data->images.bytes;
  REQUIRE(*std::min_element(pixels.begin(), pixels.end()) == 0);
  REQUIRE(*std::max_element(pixels.begin(), pixels.end()) == 255);
}

}  // namespace
}  // namespace rt
}  // namespace kiln
