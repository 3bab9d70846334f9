// A directory of numbered checkpoints for a trainer: `<dir>/<prefix>-<step>.kckpt`, the newest few
// kept, the newest found again on restart.
#ifndef KILN_RUNTIME_CHECKPOINT_CHECKPOINT_MANAGER_H_
#define KILN_RUNTIME_CHECKPOINT_CHECKPOINT_MANAGER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/kiln_runtime.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {

// Not thread-safe, and one manager at a time per directory and prefix: a save takes any temporary
// file of the prefix it finds for the leftover of an interrupted save and deletes it.
class CheckpointManager {
 public:
  // Keeps the `keep_last_n` checkpoints with the highest steps (all of them when <= 0).
  explicit CheckpointManager(std::string dir, std::string prefix = "ckpt", int keep_last_n = 5)
      : dir_(std::move(dir)), prefix_(std::move(prefix)), keep_last_n_(keep_last_n) {}

  // `<dir>/<prefix>-<step>.kckpt`.
  std::string PathFor(int64_t step) const;

  // Saves to PathFor(step) (atomically: see SaveCheckpoint), creating the directory if missing.
  // Once the new checkpoint is durable, deletes leftover temporary files and the checkpoints beyond
  // the newest keep_last_n, never the one just saved. Steps are meant to grow: after a save at a
  // step below existing ones, LatestPath still returns the highest. InvalidArgument for a negative
  // step.
  Status Save(int64_t step, const kiln_tensor* tensors, size_t n,
              const std::string& fingerprint = "");

  // The checkpoint with the highest step, after checking all of it (which reads the whole file).
  // Temporary files of interrupted saves are ignored. A corrupt newest checkpoint is an error (its
  // code from ReadCheckpointInfo, DataLoss for corruption) naming it, not a silent fall back to an
  // older one: with atomic saves it means damage from outside that someone should see before
  // training repeats steps; move the file away to resume from the one before. NotFound when there
  // is none.
  StatusOr<std::string> LatestPath() const;

 private:
  struct Listing {
    std::vector<std::pair<int64_t, std::string>>
        checkpoints;                 // step, file name; highest step first
    std::vector<std::string> temps;  // file names
  };
  StatusOr<Listing> List() const;

  std::string dir_;
  std::string prefix_;
  int keep_last_n_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_CHECKPOINT_CHECKPOINT_MANAGER_H_
