// Crash safety: a process that saves checkpoints in a loop is SIGKILLed at random points, and what
// it leaves must always resume: the newest checkpoint loads, and holds exactly what one save wrote.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/checkpoint/checkpoint_manager.h"
#include "runtime/checkpoint/test_util.h"

namespace kiln {
namespace rt {
namespace {

using testing::FreshDir;
using testing::ListDir;
using testing::Vars;

constexpr int kKills = 50;
constexpr int kKeep = 2;
constexpr size_t kGlobalStep = 2;  // index of "global_step" in Version()

// 4 MiB of weights and optimizer slots, so that a save takes a while; `seed` tells versions apart.
Vars Version(uint32_t seed) {
  Vars v;
  v.Add("dense/kernel", KILN_F32, {512, 1024}, seed)
      .Add("adam/m/dense/kernel", KILN_F32, {512, 1024}, seed + 100)
      .Add("global_step", KILN_I64, {}, 0);
  return v;
}

// Saves version A at even steps and B at odd ones, with global_step = step.
Status SaveStep(CheckpointManager& manager, int64_t step, Vars* a, Vars* b) {
  Vars& v = step % 2 == 0 ? *a : *b;
  std::memcpy(v.bytes(kGlobalStep).data(), &step, sizeof(step));
  return manager.Save(step, v.tensors(), v.size());
}

// The child: saves from `step` on until killed.
[[noreturn]] void SaveForever(const std::string& dir, int64_t step, Vars* a, Vars* b) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a failed test
  CheckpointManager manager(dir, "ckpt", kKeep);
  for (const int64_t end = step + 100000; step < end; ++step) {
    const Status s = SaveStep(manager, step, a, b);
    if (!s.ok()) {
      std::fprintf(stderr, "save failed: %s\n", s.ToString().c_str());
      _exit(1);
    }
  }
  _exit(0);
}

TEST_CASE("Checkpoints survive SIGKILL at random points of a save loop") {
  const auto start = std::chrono::steady_clock::now();
  const std::string dir = FreshDir("crash");
  Vars a = Version(1);
  Vars b = Version(2);
  CheckpointManager manager(dir, "ckpt", kKeep);

  // Step 0 first, so there is always a checkpoint to resume; its duration scales the kill delays so
  // that kills land anywhere in a save on fast and slow disks alike.
  const auto save_start = std::chrono::steady_clock::now();
  REQUIRE_OK(SaveStep(manager, 0, &a, &b));
  const auto save_us =
      std::max<int64_t>(1000, std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::steady_clock::now() - save_start)
                                  .count());

  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int64_t> delay_us(0, 3 * save_us);
  Vars loaded = Version(0).Filled(0);
  int64_t last_step = 0;
  int kills_mid_write = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) SaveForever(dir, last_step + 1, &a, &b);
    usleep(delay_us(rng));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int wstatus;
    REQUIRE(waitpid(child, &wstatus, 0) == child);
    INFO("kill " << kill << " after step " << last_step);
    REQUIRE(WIFSIGNALED(wstatus));  // not a save error

    for (const std::string& f : ListDir(dir)) {
      if (f.find(".tmp.") != std::string::npos) {
        ++kills_mid_write;
        break;
      }
    }

    StatusOr<std::string> latest = manager.LatestPath();
    REQUIRE_OK(latest.status());
    int64_t step = -1;
    REQUIRE_OK(LoadCheckpoint(*latest, loaded.tensors(), loaded.size(), "", &step));
    REQUIRE(step >= last_step);  // a durable checkpoint never goes away
    const Vars& expected = step % 2 == 0 ? a : b;
    REQUIRE(loaded.bytes(0) == expected.bytes(0));
    REQUIRE(loaded.bytes(1) == expected.bytes(1));
    int64_t global_step;
    std::memcpy(&global_step, loaded.bytes(kGlobalStep).data(), sizeof(global_step));
    REQUIRE(global_step == step);
    last_step = step;
  }
  REQUIRE(last_step > 0);  // saves completed between kills
  // The next complete save clears what the kills left: temporary files, checkpoints beyond kKeep.
  REQUIRE_OK(SaveStep(manager, last_step + 1, &a, &b));
  std::vector<std::string> kept = {"ckpt-" + std::to_string(last_step) + ".kckpt",
                                   "ckpt-" + std::to_string(last_step + 1) + ".kckpt"};
  std::sort(kept.begin(), kept.end());  // as ListDir sorts
  REQUIRE(ListDir(dir) == kept);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%d kills in %.1f s (a save takes %.1f ms); %lld saves completed, %d kills left a temporary "
      "file\n",
      kKills, seconds, save_us / 1000.0, static_cast<long long>(last_step), kills_mid_write);
}

}  // namespace
}  // namespace rt
}  // namespace kiln
