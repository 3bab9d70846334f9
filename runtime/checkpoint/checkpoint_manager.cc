#include "runtime/checkpoint/checkpoint_manager.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>

#include "runtime/checkpoint/checkpoint.h"

namespace kiln {
namespace rt {
namespace {

constexpr std::string_view kSuffix = ".kckpt";
constexpr std::string_view kTempSuffix = ".kckpt.tmp.";

Status IoError(const std::string& what, const std::string& path) {
  return UnavailableError(what + " '" + path + "': " + std::strerror(errno));
}

// `mkdir -p`.
Status MakeDirs(const std::string& dir) {
  for (size_t end = dir.find('/', 1);; end = dir.find('/', end + 1)) {
    const std::string prefix = dir.substr(0, end);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return IoError("cannot create directory", prefix);
    if (end == std::string::npos) return OkStatus();
  }
}

// What `name` is to a manager of `prefix`: `<prefix>-<step>.kckpt`, a temporary file of one, or
// neither. Sets `*step` for the first two.
enum class FileKind { kCheckpoint, kTemp, kOther };
FileKind Classify(std::string_view name, const std::string& prefix, int64_t* step) {
  if (name.size() <= prefix.size() + 1 || name.compare(0, prefix.size(), prefix) != 0 ||
      name[prefix.size()] != '-') {
    return FileKind::kOther;
  }
  name.remove_prefix(prefix.size() + 1);
  const size_t digits =
      std::find_if_not(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) -
      name.begin();
  // 18 digits always fit an int64.
  if (digits == 0 || digits > 18) return FileKind::kOther;
  *step = std::stoll(std::string(name.substr(0, digits)));
  name.remove_prefix(digits);
  if (name == kSuffix) return FileKind::kCheckpoint;
  return name.substr(0, kTempSuffix.size()) == kTempSuffix ? FileKind::kTemp : FileKind::kOther;
}

}  // namespace

std::string CheckpointManager::PathFor(int64_t step) const {
  return dir_ + "/" + prefix_ + "-" + std::to_string(step) + std::string(kSuffix);
}

StatusOr<CheckpointManager::Listing> CheckpointManager::List() const {
  DIR* dir = opendir(dir_.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return NotFoundError("no checkpoint directory '" + dir_ + "'");
    return IoError("cannot list checkpoint directory", dir_);
  }
  Listing listing;
  while (const dirent* entry = readdir(dir)) {
    int64_t step;
    switch (Classify(entry->d_name, prefix_, &step)) {
      case FileKind::kCheckpoint: listing.checkpoints.emplace_back(step, entry->d_name); break;
      case FileKind::kTemp: listing.temps.emplace_back(entry->d_name); break;
      case FileKind::kOther: break;
    }
  }
  closedir(dir);
  std::sort(listing.checkpoints.begin(), listing.checkpoints.end(), std::greater<>());
  return listing;
}

Status CheckpointManager::Save(int64_t step, const kiln_tensor* tensors, size_t n,
                               const std::string& fingerprint) {
  if (step < 0)
    return InvalidArgumentError("checkpoint step " + std::to_string(step) + " is negative");
  KILN_RT_RETURN_IF_ERROR(MakeDirs(dir_));
  const std::string path = PathFor(step);
  KILN_RT_RETURN_IF_ERROR(SaveCheckpoint(path, tensors, n, step, fingerprint));

  // Only now that the new checkpoint is durable may the old ones go.
  KILN_RT_ASSIGN_OR_RETURN(Listing listing, List());
  std::vector<std::string> doomed = std::move(listing.temps);
  int kept = 1;  // the new one
  for (const auto& [s, name] : listing.checkpoints) {
    if (s == step) continue;
    if (keep_last_n_ <= 0 || kept < keep_last_n_) {
      ++kept;
    } else {
      doomed.push_back(name);
    }
  }
  for (const std::string& name : doomed) {
    const std::string old = dir_ + "/" + name;
    if (std::remove(old.c_str()) != 0 && errno != ENOENT) {
      return IoError("saved checkpoint '" + path + "', but cannot delete", old);
    }
  }
  return OkStatus();
}

StatusOr<std::string> CheckpointManager::LatestPath() const {
  KILN_RT_ASSIGN_OR_RETURN(Listing listing, List());
  if (listing.checkpoints.empty()) {
    return NotFoundError("no checkpoint '" + prefix_ + "-<step>" + std::string(kSuffix) + "' in '" +
                         dir_ + "'");
  }
  const std::string path = dir_ + "/" + listing.checkpoints.front().second;
  const StatusOr<CheckpointInfo> info = ReadCheckpointInfo(path);
  if (!info.ok()) {
    const std::string advice =
        "cannot resume from the newest checkpoint (move it away to resume from an older one): ";
    return Status(info.status().code(), advice + info.status().message());
  }
  return path;
}

}  // namespace rt
}  // namespace kiln
