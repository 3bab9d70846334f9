#include "runtime/checkpoint/checkpoint.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/checkpoint/test_util.h"

namespace kiln {
namespace rt {
namespace {

using testing::FreshDir;
using testing::ListDir;
using testing::ReadAll;
using testing::Vars;
using testing::WriteAll;

constexpr uint8_t kSentinel = 0xAB;

uint64_t GetLittleEndian(const std::string& bytes, size_t at, int size) {
  uint64_t v = 0;
  for (int i = 0; i < size; ++i)
    v |= uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return v;
}

// Every dtype, with scalars and tensors without elements.
Vars AllKinds() {
  Vars v;
  v.Add("dense/kernel", KILN_F32, {3, 4}, 1)
      .Add("dense/bias", KILN_F64, {4}, 2)
      .Add("half", KILN_F16, {2, 1, 3}, 3)
      .Add("brain", KILN_BF16, {5}, 4)
      .Add("bytes", KILN_I8, {7}, 5)
      .Add("ids", KILN_I32, {2, 2}, 6)
      .Add("global_step", KILN_I64, {}, 7)
      .Add("mask", KILN_BOOL, {3}, 8)
      .Add("empty", KILN_F32, {0, 5}, 9)
      .Add("scalar", KILN_F32, {}, 10);
  return v;
}

TEST_CASE("Checkpoint round-trips every dtype, scalars and tensors without elements") {
  const std::string path = FreshDir("roundtrip") + "/model.kckpt";
  Vars saved = AllKinds();
  REQUIRE_OK(SaveCheckpoint(path, saved.tensors(), saved.size(), 42, "graph-v1"));

  // The header as the format comment lays it out.
  const std::string bytes = ReadAll(path);
  REQUIRE(bytes.substr(0, 8) == "KILNCKPT");
  REQUIRE(GetLittleEndian(bytes, 8, 4) == 1);
  REQUIRE(GetLittleEndian(bytes, 12, 8) == 42);
  REQUIRE(GetLittleEndian(bytes, 28, 8) == bytes.size());
  size_t data_bytes = 0;
  for (size_t i = 0; i < saved.size(); ++i) data_bytes += saved.bytes(i).size();
  REQUIRE(GetLittleEndian(bytes, 20, 8) == 40 + data_bytes);

  // Variables are matched by name, so the model may list them in any order.
  Vars loaded = saved.Filled(kSentinel);
  std::vector<kiln_tensor> reversed(loaded.tensors(), loaded.tensors() + loaded.size());
  std::reverse(reversed.begin(), reversed.end());
  int64_t step = -1;
  REQUIRE_OK(LoadCheckpoint(path, reversed.data(), reversed.size(), "graph-v1", &step));
  REQUIRE(step == 42);
  for (size_t i = 0; i < saved.size(); ++i) REQUIRE(loaded.bytes(i) == saved.bytes(i));
  REQUIRE_OK(LoadCheckpoint(path, loaded.tensors(), loaded.size(), "graph-v1", nullptr));

  StatusOr<CheckpointInfo> info = ReadCheckpointInfo(path);
  REQUIRE_OK(info.status());
  REQUIRE(info->step == 42);
  REQUIRE(info->fingerprint == "graph-v1");
  REQUIRE(info->tensors.size() == saved.size());
  const kiln_tensor* views = saved.tensors();
  for (size_t i = 0; i < saved.size(); ++i) {
    REQUIRE(info->tensors[i].name == views[i].name);
    REQUIRE(info->tensors[i].dtype == views[i].dtype);
    REQUIRE(info->tensors[i].shape ==
            std::vector<int64_t>(views[i].shape, views[i].shape + views[i].rank));
  }
}

// Small enough to corrupt at every byte.
Vars Small() {
  Vars v;
  v.Add("w", KILN_F32, {2, 3}, 1)
      .Add("global_step", KILN_I64, {}, 2)
      .Add("none", KILN_BOOL, {0}, 3);
  return v;
}

TEST_CASE("Checkpoint load detects every flipped byte and leaves the model untouched") {
  const std::string dir = FreshDir("flips");
  Vars saved = Small();
  REQUIRE_OK(SaveCheckpoint(dir + "/good.kckpt", saved.tensors(), saved.size(), 7, "fp"));
  const std::string good = ReadAll(dir + "/good.kckpt");
  const std::string path = dir + "/bad.kckpt";
  Vars model = Small().Filled(kSentinel);
  for (size_t i = 0; i < good.size(); ++i) {
    for (const int mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] ^= mask;
      WriteAll(path, bad);
      INFO("byte " << i << " of " << good.size() << " xor " << mask);
      int64_t step = -1;
      const Status s = LoadCheckpoint(path, model.tensors(), model.size(), "fp", &step);
      INFO(s.ToString());
      // The version is read before the header's CRC, so that a newer file says it is newer.
      REQUIRE(s.code() == (i >= 8 && i < 12 ? KILN_FAILED_PRECONDITION : KILN_DATA_LOSS));
      REQUIRE(model.AllBytesAre(kSentinel));
      REQUIRE(step == -1);
      REQUIRE(ReadCheckpointInfo(path).status().code() == s.code());
    }
  }
}

TEST_CASE("Checkpoint load detects truncation at every length, and trailing bytes") {
  const std::string dir = FreshDir("truncation");
  Vars saved = Small();
  REQUIRE_OK(SaveCheckpoint(dir + "/good.kckpt", saved.tensors(), saved.size(), 7, "fp"));
  const std::string good = ReadAll(dir + "/good.kckpt");
  const std::string path = dir + "/bad.kckpt";
  Vars model = Small().Filled(kSentinel);
  for (size_t size = 0; size < good.size(); ++size) {
    WriteAll(path, good.substr(0, size));
    const Status s = LoadCheckpoint(path, model.tensors(), model.size(), "fp", nullptr);
    INFO("truncated to " << size << ": " << s.ToString());
    REQUIRE(s.code() == KILN_DATA_LOSS);
    REQUIRE(s.message().find("' is truncated: " + std::to_string(size) + " bytes") !=
            std::string::npos);
    REQUIRE(model.AllBytesAre(kSentinel));
  }
  WriteAll(path, good + "x");
  const Status s = LoadCheckpoint(path, model.tensors(), model.size(), "fp", nullptr);
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(s.message() == "checkpoint '" + path +
                             "' has trailing bytes: " + std::to_string(good.size() + 1) +
                             " bytes, the header says " + std::to_string(good.size()));
  REQUIRE(model.AllBytesAre(kSentinel));
}

Vars Dense(std::vector<int64_t> kernel_shape = {784, 512}, kiln_dtype step_dtype = KILN_I64,
           std::string bias_name = "dense/bias") {
  Vars v;
  v.Add("dense/kernel", KILN_F32, std::move(kernel_shape), 1)
      .Add(std::move(bias_name), KILN_F32, {512}, 2)
      .Add("global_step", step_dtype, {}, 3);
  return v;
}

TEST_CASE("Checkpoint load names every variable that does not match the model") {
  const std::string path = FreshDir("mismatch") + "/dense.kckpt";
  Vars saved = Dense();
  REQUIRE_OK(SaveCheckpoint(path, saved.tensors(), saved.size(), 1, "mlp-784-512"));
  const std::string prefix = "checkpoint '" + path + "' does not match the model: ";
  Vars model;
  std::string expected;
  SECTION("shape") {
    model = Dense({784, 256}).Filled(kSentinel);
    expected =
        prefix + "variable 'dense/kernel': checkpoint has f32[784,512], the model has f32[784,256]";
  }
  SECTION("dtype") {
    model = Dense({784, 512}, KILN_I32).Filled(kSentinel);
    expected = prefix + "variable 'global_step': checkpoint has i64[], the model has i32[]";
  }
  SECTION("missing and extra") {
    model = Dense({784, 512}, KILN_I64, "dense/b").Filled(kSentinel);
    expected = prefix + "variable 'dense/b' is not in the checkpoint; " +
               "checkpoint variable 'dense/bias' is not in the model";
  }
  SECTION("another model lists the first ten") {
    for (int i = 0; i < 12; ++i) model.Add("v" + std::to_string(i), KILN_F32, {1}, 0);
    model = model.Filled(kSentinel);
    expected = prefix;
    for (int i = 0; i < 10; ++i)
      expected += "variable 'v" + std::to_string(i) + "' is not in the checkpoint; ";
    expected += "and 5 more";
  }
  int64_t step = -1;
  const Status s = LoadCheckpoint(path, model.tensors(), model.size(), "mlp-784-512", &step);
  REQUIRE(s.code() == KILN_FAILED_PRECONDITION);
  REQUIRE(s.message() == expected);
  REQUIRE(model.AllBytesAre(kSentinel));
  REQUIRE(step == -1);
}

TEST_CASE("Checkpoint load checks the graph fingerprint when both sides have one") {
  const std::string dir = FreshDir("fingerprint");
  Vars saved = Small();
  REQUIRE_OK(SaveCheckpoint(dir + "/a.kckpt", saved.tensors(), saved.size(), 1, "graph-a"));
  REQUIRE_OK(SaveCheckpoint(dir + "/none.kckpt", saved.tensors(), saved.size(), 1, ""));
  Vars model = Small().Filled(kSentinel);
  const Status s =
      LoadCheckpoint(dir + "/a.kckpt", model.tensors(), model.size(), "graph-b", nullptr);
  REQUIRE(s.code() == KILN_FAILED_PRECONDITION);
  REQUIRE(
      s.message() ==
      "checkpoint '" + dir +
          "/a.kckpt' is of another graph: its fingerprint is 'graph-a', the model's is 'graph-b'");
  REQUIRE(model.AllBytesAre(kSentinel));
  REQUIRE_OK(LoadCheckpoint(dir + "/a.kckpt", model.tensors(), model.size(), "", nullptr));
  REQUIRE_OK(
      LoadCheckpoint(dir + "/none.kckpt", model.tensors(), model.size(), "graph-b", nullptr));
}

TEST_CASE("Checkpoint load reports a missing file, a foreign file and a newer format") {
  const std::string dir = FreshDir("errors");
  Vars model = Small().Filled(kSentinel);
  const std::string missing = dir + "/missing.kckpt";
  Status s = LoadCheckpoint(missing, model.tensors(), model.size(), "", nullptr);
  REQUIRE(s.code() == KILN_NOT_FOUND);
  REQUIRE(s.message() == "no checkpoint '" + missing + "'");
  REQUIRE(ReadCheckpointInfo(missing).status().code() == KILN_NOT_FOUND);

  const std::string foreign = dir + "/graph.pb";
  WriteAll(foreign, std::string(100, 'x'));
  s = LoadCheckpoint(foreign, model.tensors(), model.size(), "", nullptr);
  REQUIRE(s.code() == KILN_DATA_LOSS);
  REQUIRE(s.message() == "checkpoint '" + foreign + "' is not a Kiln checkpoint (bad magic)");

  Vars saved = Small();
  const std::string newer = dir + "/newer.kckpt";
  REQUIRE_OK(SaveCheckpoint(newer, saved.tensors(), saved.size(), 1, ""));
  std::string bytes = ReadAll(newer);
  bytes[8] = 2;
  WriteAll(newer, bytes);
  s = LoadCheckpoint(newer, model.tensors(), model.size(), "", nullptr);
  REQUIRE(s.code() == KILN_FAILED_PRECONDITION);
  REQUIRE(s.message() ==
          "checkpoint '" + newer + "' has format version 2; this build reads version 1");
  REQUIRE(model.AllBytesAre(kSentinel));
}

TEST_CASE("Checkpoint save and load reject malformed tensors") {
  const std::string dir = FreshDir("invalid");
  const std::string path = dir + "/model.kckpt";
  Vars vars = Small();
  kiln_tensor* t = vars.tensors();
  const int64_t negative_shape[] = {2, -3};
  std::string expected;
  SECTION("duplicate name") {
    t[1].name = "w";
    expected = "tensor 'w' appears twice";
  }
  SECTION("no name") {
    t[2].name = "";
    expected = "tensor 2 has no name";
  }
  SECTION("unknown dtype") {
    t[0].dtype = static_cast<kiln_dtype>(0);
    expected = "tensor 'w' has unknown dtype 0";
  }
  SECTION("negative dim") {
    t[0].shape = negative_shape;
    expected = "tensor 'w' has invalid shape f32[2,-3]";
  }
  SECTION("no data") {
    t[0].data = nullptr;
    expected = "tensor 'w' has no data";
  }
  const Status saved = SaveCheckpoint(path, t, vars.size(), 1, "");
  REQUIRE(saved.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(saved.message() == expected);
  REQUIRE(ListDir(dir).empty());
  const Status loaded = LoadCheckpoint(path, t, vars.size(), "", nullptr);
  REQUIRE(loaded.code() == KILN_INVALID_ARGUMENT);
  REQUIRE(loaded.message() == expected);
}

TEST_CASE("Checkpoint save failures name the checkpoint and leave no temporary file") {
  const std::string dir = FreshDir("save_errors");
  Vars vars = Small();
  SECTION("missing directory") {
    const std::string path = dir + "/missing/model.kckpt";
    const Status s = SaveCheckpoint(path, vars.tensors(), vars.size(), 1, "");
    REQUIRE(s.code() == KILN_UNAVAILABLE);
    REQUIRE(s.message().rfind(
                "cannot save checkpoint '" + path + "': cannot create '" + path + ".tmp.", 0) == 0);
  }
  SECTION("rename over a directory") {
    const std::string path = dir + "/taken";
    REQUIRE(mkdir(path.c_str(), 0755) == 0);
    const Status s = SaveCheckpoint(path, vars.tensors(), vars.size(), 1, "");
    REQUIRE(s.code() == KILN_UNAVAILABLE);
    REQUIRE(s.message().rfind(
                "cannot save checkpoint '" + path + "': cannot rename '" + path + ".tmp.", 0) == 0);
    REQUIRE(ListDir(dir) == std::vector<std::string>{"taken"});
  }
  SECTION("write error") {
    // A file size limit makes writes fail (EFBIG) part way; in a child, so the limit stays there.
    const std::string path = dir + "/model.kckpt";
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const rlimit limit{64 << 10, 64 << 10};
      setrlimit(RLIMIT_FSIZE, &limit);
      std::signal(SIGXFSZ, SIG_IGN);
      Vars big;
      big.Add("w", KILN_F32, {256, 1024}, 1);
      WriteAll(dir + "/status.txt",
               SaveCheckpoint(path, big.tensors(), big.size(), 1, "").ToString());
      _exit(0);
    }
    int wstatus;
    REQUIRE(waitpid(child, &wstatus, 0) == child);
    REQUIRE(WIFEXITED(wstatus));
    const std::string status = ReadAll(dir + "/status.txt");
    INFO(status);
    REQUIRE(status.rfind("UNAVAILABLE: cannot save checkpoint '" + path + "': cannot write '" +
                             path + ".tmp.",
                         0) == 0);
    REQUIRE(status.find("File too large") != std::string::npos);
    REQUIRE(ListDir(dir) == std::vector<std::string>{"status.txt"});
  }
}

}  // namespace
}  // namespace rt
}  // namespace kiln
