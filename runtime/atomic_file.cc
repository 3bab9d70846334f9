#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kiln {
namespace rt {
namespace {

Status IoError(const std::string& what, const std::string& file) {
  return UnavailableError(what + " '" + file + "': " + std::strerror(errno));
}

}  // namespace

std::string TempPathFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
}

Status SyncFile(const std::string& path) {
  // fsync through a new descriptor syncs the file's data all the same (Linux syncs the inode).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    const Status status = IoError("cannot sync", path);
    if (fd >= 0) close(fd);
    return status;
  }
  close(fd);
  return OkStatus();
}

Status CommitTempFile(const std::string& temp, const std::string& path) {
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const Status status = IoError("cannot rename", temp);
    std::remove(temp.c_str());
    return status;
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  Status status = OkStatus();
  if (fd < 0 || fsync(fd) != 0) status = IoError("cannot sync directory", dir);
  if (fd >= 0) close(fd);
  return status;
}

}  // namespace rt
}  // namespace kiln
