#include "runtime/metrics/csv_log.h"

#include <cerrno>
#include <charconv>
#include <cstring>

namespace kiln {
namespace rt {
namespace {

// std::to_chars without a precision gives the shortest round-tripping text, whatever the locale.
template <typename T>
std::string ShortestText(T value) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), value).ptr);
}

Status IoError(const std::string& what, const std::string& path) {
  return UnavailableError(what + " '" + path + "': " + std::strerror(errno));
}

}  // namespace

CsvCell::CsvCell(float value) : text_(ShortestText(value)) {}
CsvCell::CsvCell(double value) : text_(ShortestText(value)) {}

CsvCell::CsvCell(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) {
    text_ = value;
    return;
  }
  text_ = "\"";
  for (char c : value) {
    if (c == '"') text_ += '"';
    text_ += c;
  }
  text_ += '"';
}

StatusOr<CsvLog> CsvLog::Create(const std::string& path, const std::vector<std::string>& columns) {
  if (columns.empty())
    return InvalidArgumentError("CSV log '" + path + "' needs at least one column");
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return IoError("cannot create CSV log", path);
  CsvLog log(file, path, columns.size());
  KILN_RT_RETURN_IF_ERROR(log.WriteLine(std::vector<CsvCell>(columns.begin(), columns.end())));
  return log;
}

StatusOr<CsvLog> CsvLog::Append(const std::string& path, const std::vector<std::string>& columns,
                                const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> lines;
  if (std::FILE* in = std::fopen(path.c_str(), "r")) {
    std::string line;
    for (int c; (c = std::fgetc(in)) != EOF;) {
      if (c != '\n') {
        line += static_cast<char>(c);
      } else {
        lines.push_back(line);
        line.clear();
      }
    }
    std::fclose(in);
  }
  if (lines.empty()) return Create(path, columns);
  std::string header;
  for (size_t i = 0; i < columns.size(); ++i)
    header += (i == 0 ? "" : ",") + CsvCell(columns[i]).text();
  if (lines[0] != header) {
    return FailedPreconditionError("CSV log '" + path + "' has columns '" + lines[0] +
                                   "', expected '" + header + "'");
  }
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return IoError("cannot write CSV log", path);
  CsvLog log(file, path, columns.size());
  std::string kept;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0 && keep && !keep(lines[i].substr(0, lines[i].find(',')))) continue;
    kept += lines[i] + "\n";
  }
  if (std::fwrite(kept.data(), 1, kept.size(), file) != kept.size() || std::fflush(file) != 0) {
    return IoError("cannot write CSV log", path);
  }
  return log;
}

Status CsvLog::AddRow(const std::vector<CsvCell>& cells) {
  if (cells.size() != num_columns_) {
    return InvalidArgumentError("CSV log '" + path_ + "' has " + std::to_string(num_columns_) +
                                " columns; the row has " + std::to_string(cells.size()) + " cells");
  }
  return WriteLine(cells);
}

Status CsvLog::WriteLine(const std::vector<CsvCell>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) line += (i == 0 ? "" : ",") + cells[i].text();
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0) {
    return IoError("cannot write CSV log", path_);
  }
  return OkStatus();
}

}  // namespace rt
}  // namespace kiln
