// Files replaced atomically: write a temporary file beside the destination, sync it, rename it over
// the destination, sync the directory. A reader (or a process started after a crash) sees the old
// file or the whole new one, never a mix. Checkpoints and example records are written this way.
#ifndef KILN_RUNTIME_ATOMIC_FILE_H_
#define KILN_RUNTIME_ATOMIC_FILE_H_

#include <string>

#include "runtime/status.h"

namespace kiln {
namespace rt {

// "<path>.tmp.<pid>.<n>": unique among this process's calls, and no live process shares the name,
// so a file already there is a dead process's leftover, to overwrite.
std::string TempPathFor(const std::string& path);

// Flushes a written, closed file's data to the disk. Unavailable "cannot sync '<path>': <reason>".
Status SyncFile(const std::string& path);

// Renames the written and synced `temp` over `path`, then syncs the directory so the rename is
// durable. On a failed rename removes `temp`. Unavailable naming the file: "cannot rename '<temp>':
// <reason>" or "cannot sync directory '<dir>': <reason>".
Status CommitTempFile(const std::string& temp, const std::string& path);

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_ATOMIC_FILE_H_
