#include "runtime/metrics/csv_log.h"

#include <cfloat>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
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

TEST_CASE("CsvLog writes a header, then each row as it is added") {
  const std::string path = TempPath("train.csv");
  StatusOr<CsvLog> log =
      CsvLog::Create(path, {"epoch", "step", "wall_time", "train_loss", "test_accuracy"});
  REQUIRE(log.ok());
  REQUIRE(ReadFile(path) == "epoch,step,wall_time,train_loss,test_accuracy\n");
  REQUIRE(log->AddRow({1, int64_t{938}, 1700000012.25, 0.4123f, 0.8765}).ok());
  // Read while the log is open: the row was flushed.
  REQUIRE(ReadFile(path) ==
          "epoch,step,wall_time,train_loss,test_accuracy\n1,938,1700000012.25,0.4123,0.8765\n");
}

TEST_CASE("CsvLog numbers read back as the same value") {
  const std::vector<float> floats = {0.1f,         1.0f / 3, -2.5e-7f, FLT_MAX,    FLT_MIN,
                                     FLT_TRUE_MIN, 0.0f,     -0.0f,    16777216.0f};
  const std::vector<double> doubles = {0.1,     1.0 / 3,      1700000000.123456,
                                       DBL_MAX, DBL_TRUE_MIN, -1e300};
  for (float f : floats) {
    const std::string text = CsvCell(f).text();
    INFO(text);
    const float back = std::strtof(text.c_str(), nullptr);
    REQUIRE(std::memcmp(&back, &f, sizeof(f)) == 0);
  }
  for (double d : doubles) {
    const std::string text = CsvCell(d).text();
    INFO(text);
    const double back = std::strtod(text.c_str(), nullptr);
    REQUIRE(std::memcmp(&back, &d, sizeof(d)) == 0);
  }
  // The shortest such text, not "0.100000001" or "0.10000000000000001".
  REQUIRE(CsvCell(0.1f).text() == "0.1");
  REQUIRE(CsvCell(0.1).text() == "0.1");
  REQUIRE(CsvCell(int64_t{-9007199254740993}).text() == "-9007199254740993");
  REQUIRE(CsvCell(uint64_t{18446744073709551615u}).text() == "18446744073709551615");
}

TEST_CASE("CsvLog quotes strings that hold a comma, quote or line break") {
  const std::string path = TempPath("quoted.csv");
  StatusOr<CsvLog> log = CsvLog::Create(path, {"run", "note, free text"});
  REQUIRE(log.ok());
  REQUIRE(log->AddRow({"plain", "say \"hi\""}).ok());
  REQUIRE(log->AddRow({"two\nlines", ""}).ok());
  REQUIRE(ReadFile(path) ==
          "run,\"note, free text\"\n"
          "plain,\"say \"\"hi\"\"\"\n"
          "\"two\nlines\",\n");
}

TEST_CASE("CsvLog rejects a row of the wrong width, naming the file") {
  const std::string path = TempPath("width.csv");
  StatusOr<CsvLog> log = CsvLog::Create(path, {"epoch", "loss"});
  REQUIRE(log.ok());
  const Status status = log->AddRow({1});
  REQUIRE(status.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(status.message() == "CSV log '" + path + "' has 2 columns; the row has 1 cells");
  REQUIRE(ReadFile(path) == "epoch,loss\n");
}

TEST_CASE("CsvLog errors name the path") {
  const std::string path = TempPath("no_such_dir/train.csv");
  StatusOr<CsvLog> log = CsvLog::Create(path, {"epoch"});
  REQUIRE(log.status().code() == KILN_UNAVAILABLE);
  REQUIRE(log.status().message() ==
          "cannot create CSV log '" + path + "': No such file or directory");
  REQUIRE(CsvLog::Create(TempPath("none.csv"), {}).status().code() == KILN_INVALID_ARGUMENT);
}

TEST_CASE("CsvLog::Append keeps the accepted rows and continues after them") {
  const std::string path = TempPath("resume.csv");
  {
    auto log = CsvLog::Append(path, {"epoch", "loss"});  // no file yet: created
    REQUIRE(log.ok());
    for (int epoch = 1; epoch <= 4; ++epoch) REQUIRE(log->AddRow({epoch, 1.0 / epoch}).ok());
  }
  {
    // Resumed from epoch 2's checkpoint: epochs 3 and 4 will be logged again.
    auto log = CsvLog::Append(path, {"epoch", "loss"},
                              [](const std::string& epoch) { return std::stoi(epoch) <= 2; });
    REQUIRE(log.ok());
    REQUIRE(log->AddRow({3, 0.25}).ok());
  }
  REQUIRE(ReadFile(path) == "epoch,loss\n1,1\n2,0.5\n3,0.25\n");
  auto other = CsvLog::Append(path, {"epoch", "accuracy"});
  REQUIRE(!other.ok());
  REQUIRE(other.status().code() == KILN_FAILED_PRECONDITION);
  REQUIRE(other.status().message().find("has columns 'epoch,loss', expected 'epoch,accuracy'") !=
          std::string::npos);
}

}  // namespace
}  // namespace rt
}  // namespace kiln
