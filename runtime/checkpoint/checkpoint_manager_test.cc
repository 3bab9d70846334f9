#include "runtime/checkpoint/checkpoint_manager.h"

#include <cstring>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/checkpoint/test_util.h"

namespace kiln {
namespace rt {
namespace {

using testing::FreshDir;
using testing::ListDir;
using testing::ReadAll;
using testing::Vars;
using testing::WriteAll;

Vars Model() {
  Vars v;
  v.Add("w", KILN_F32, {4, 4}, 1).Add("global_step", KILN_I64, {}, 2);
  return v;
}

// Saves with global_step = step, as a trainer would.
Status SaveAt(CheckpointManager& manager, Vars& vars, int64_t step) {
  std::memcpy(vars.bytes(1).data(), &step, sizeof(step));
  return manager.Save(step, vars.tensors(), vars.size(), "fp");
}

TEST_CASE("CheckpointManager keeps the newest N checkpoints in a directory it creates") {
  const std::string dir = FreshDir("keep") + "/runs/1";
  CheckpointManager manager(dir, "ckpt", 3);
  REQUIRE(manager.PathFor(12) == dir + "/ckpt-12.kckpt");
  Vars vars = Model();
  for (int64_t step = 1; step <= 6; ++step) REQUIRE_OK(SaveAt(manager, vars, step * 100));
  REQUIRE(ListDir(dir) ==
          std::vector<std::string>{"ckpt-400.kckpt", "ckpt-500.kckpt", "ckpt-600.kckpt"});

  StatusOr<std::string> latest = manager.LatestPath();
  REQUIRE_OK(latest.status());
  REQUIRE(*latest == dir + "/ckpt-600.kckpt");
  Vars loaded = Model().Filled(0);
  int64_t step = -1;
  REQUIRE_OK(LoadCheckpoint(*latest, loaded.tensors(), loaded.size(), "fp", &step));
  REQUIRE(step == 600);
  REQUIRE(loaded.bytes(1) == vars.bytes(1));

  // Steps are compared as numbers, not names ("ckpt-1000" < "ckpt-600" as strings).
  REQUIRE_OK(SaveAt(manager, vars, 1000));
  REQUIRE(ListDir(dir) ==
          std::vector<std::string>{"ckpt-1000.kckpt", "ckpt-500.kckpt", "ckpt-600.kckpt"});
  REQUIRE(*manager.LatestPath() == dir + "/ckpt-1000.kckpt");

  CheckpointManager keep_all(dir, "all", 0);
  for (int64_t step = 1; step <= 4; ++step) REQUIRE_OK(SaveAt(keep_all, vars, step));
  REQUIRE(ListDir(dir).size() == 3 + 4);
}

TEST_CASE("CheckpointManager ignores temporary files of interrupted saves, then removes them") {
  const std::string dir = FreshDir("temps");
  CheckpointManager manager(dir);
  Vars vars = Model();
  REQUIRE_OK(SaveAt(manager, vars, 5));
  // What a save killed before its rename leaves: a partial file at a higher step.
  const std::string partial = ReadAll(manager.PathFor(5)).substr(0, 50);
  WriteAll(dir + "/ckpt-7.kckpt.tmp.4242.0", partial);
  WriteAll(dir + "/ckpt-8.kckpt.tmp.4243.3", "");
  WriteAll(dir + "/notes.txt", "not ours");
  WriteAll(dir + "/other-9.kckpt", "another prefix");
  REQUIRE(*manager.LatestPath() == dir + "/ckpt-5.kckpt");

  REQUIRE_OK(SaveAt(manager, vars, 6));
  REQUIRE(ListDir(dir) ==
          std::vector<std::string>{"ckpt-5.kckpt", "ckpt-6.kckpt", "notes.txt", "other-9.kckpt"});
}

TEST_CASE("CheckpointManager reports a corrupt newest checkpoint instead of falling back") {
  const std::string dir = FreshDir("corrupt");
  CheckpointManager manager(dir);
  Vars vars = Model();
  REQUIRE_OK(SaveAt(manager, vars, 1));
  REQUIRE_OK(SaveAt(manager, vars, 2));
  const std::string newest = manager.PathFor(2);
  std::string bytes = ReadAll(newest);
  bytes[45] ^= 1;  // in the data of 'w'
  WriteAll(newest, bytes);
  StatusOr<std::string> latest = manager.LatestPath();
  REQUIRE(latest.status().code() == KILN_DATA_LOSS);
  REQUIRE(latest.status().message() ==
          "cannot resume from the newest checkpoint (move it away to resume from an older one): "
          "checkpoint '" +
              newest + "' is corrupt: data checksum mismatch in variable 'w'");

  REQUIRE(std::rename(newest.c_str(), (dir + "/bad").c_str()) == 0);
  REQUIRE(*manager.LatestPath() == manager.PathFor(1));
}

TEST_CASE(
    "CheckpointManager finds nothing in an empty or missing directory, and wants steps >= 0") {
  const std::string dir = FreshDir("empty");
  const Status none = CheckpointManager(dir).LatestPath().status();
  REQUIRE(none.code() == KILN_NOT_FOUND);
  REQUIRE(none.message() == "no checkpoint 'ckpt-<step>.kckpt' in '" + dir + "'");
  REQUIRE(CheckpointManager(dir + "/missing").LatestPath().status().code() == KILN_NOT_FOUND);
  Vars vars = Model();
  const Status s = CheckpointManager(dir).Save(-1, vars.tensors(), vars.size());
  REQUIRE(s.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(ListDir(dir).empty());
}

}  // namespace
}  // namespace rt
}  // namespace kiln
