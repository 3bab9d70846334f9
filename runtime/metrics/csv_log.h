// A CSV file of training records (one row per epoch or evaluation, say) for spreadsheets, pandas
// and plots: a header row, then rows of numbers and strings under columns fixed at creation.
//
//   KILN_RT_ASSIGN_OR_RETURN(CsvLog log, CsvLog::Create(path, {"epoch", "train_loss",
//   "test_accuracy"})); KILN_RT_RETURN_IF_ERROR(log.AddRow({epoch, progress.mean_loss(),
//   accuracy}));
#ifndef KILN_RUNTIME_METRICS_CSV_LOG_H_
#define KILN_RUNTIME_METRICS_CSV_LOG_H_

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/status.h"

namespace kiln {
namespace rt {

// One cell's text. Numbers are written in the shortest form that reads back as the same value
// (a float as a float: 0.1f is "0.1"), independent of the C locale; strings are quoted when they
// hold a comma, quote or line break.
class CsvCell {
 public:
  template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  CsvCell(T value)
      : text_(std::to_string(value)) {}  // NOLINT: implicit, so rows read {1, 0.5, "x"}
  CsvCell(float value);                  // NOLINT
  CsvCell(double value);                 // NOLINT
  CsvCell(const std::string& value);     // NOLINT
  CsvCell(const char* value) : CsvCell(std::string(value)) {}  // NOLINT

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Not thread-safe.
class CsvLog {
 public:
  // Creates (truncates) `path` and writes the header row.
  static StatusOr<CsvLog> Create(const std::string& path, const std::vector<std::string>& columns);
  // Continues the log at `path` (a resumed run): keeps the rows whose first cell `keep` accepts
  // (all rows when null) and appends after them; creates it like Create when it does not exist or
  // is empty. FailedPrecondition when its header is not `columns`.
  static StatusOr<CsvLog> Append(const std::string& path, const std::vector<std::string>& columns,
                                 const std::function<bool(const std::string&)>& keep = nullptr);

  // One cell per column, in the columns' order. The row is flushed to the OS before this returns,
  // so a run that is killed keeps every row it logged.
  Status AddRow(const std::vector<CsvCell>& cells);

 private:
  struct Close {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  CsvLog(std::FILE* file, std::string path, size_t num_columns)
      : file_(file), path_(std::move(path)), num_columns_(num_columns) {}
  Status WriteLine(const std::vector<CsvCell>& cells);

  std::unique_ptr<std::FILE, Close> file_;
  std::string path_;
  size_t num_columns_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_METRICS_CSV_LOG_H_
