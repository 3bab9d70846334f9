// A bundle written by kilnc (--emit bundle) loaded by the runtime alone: its signature as the
// description says, runs equal to the interpreter's outputs from 8 threads at once, and every kind
// of bad file rejected with a message naming the file and the reason. Linked statically, so the
// oneDNN hooks come from kiln_dnnl_symbols(), not from the process's exported symbols.
#include "runtime/bundle.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/crc32c.h"
#include "runtime/dnnl_kernels.h"
#include "runtime/kiln_bundle.h"
#include "runtime/little_endian.h"

namespace {

const char kDir[] = "test/bundle/";

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<float> Floats(const std::string& path) {
  const std::string bytes = Read(path);
  std::vector<float> f(bytes.size() / sizeof(float));
  std::memcpy(f.data(), bytes.data(), bytes.size());
  return f;
}

std::string Temp(const std::string& name, const std::string& bytes) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

kiln_bundle_options Options() {
  kiln_bundle_options options = kiln_bundle_default_options();
  options.symbols = kiln_dnnl_symbols(&options.num_symbols);
  return options;
}

// Opens `path`; returns the status code and the message.
std::pair<kiln_status_code, std::string> Open(const std::string& path) {
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  const kiln_bundle_options options = Options();
  kiln_status_code code =
      kiln_bundle_open(path.c_str(), &options, &bundle, message, sizeof message);
  if (bundle != nullptr) kiln_bundle_close(bundle);
  return {code, message};
}

// The file with its header's CRC and the section table's CRC made right again, so that a check
// after the checksums is what rejects it.
std::string Resealed(std::string file) {
  const uint64_t table = kiln::rt::GetLittleEndian(file.data() + 24, 8);
  const uint64_t count = kiln::rt::GetLittleEndian(file.data() + 32, 4);
  if (table <= file.size() && count * KILN_BUNDLE_SECTION_BYTES <= file.size() - table) {
    kiln::rt::PutLittleEndian(
        file.data() + 36, kiln::rt::Crc32c(file.data() + table, count * KILN_BUNDLE_SECTION_BYTES),
        4);
  }
  kiln::rt::PutLittleEndian(file.data() + 60, kiln::rt::Crc32c(file.data(), 60), 4);
  return file;
}

TEST_CASE("a bundle's signature describes the model") {
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  const kiln_bundle_options options = Options();
  REQUIRE(kiln_bundle_open((std::string(kDir) + "model.kiln").c_str(), &options, &bundle, message,
                           sizeof message) == KILN_OK);
  REQUIRE(kiln_bundle_num_signatures(bundle) == 1);
  CHECK(std::string(kiln_bundle_signature_name(bundle, 0)) == "serving_default");
  CHECK(kiln_bundle_find(bundle, "serving_default") == 0);
  CHECK(kiln_bundle_find(bundle, "train_step") == -1);
  const kiln_model_info& info = *kiln_bundle_signature(bundle, 0);
  CHECK(std::string(info.target) == "x86_64");
  CHECK_FALSE(info.training);
  REQUIRE(info.num_args == 6);  // x, 4 weights, probabilities
  CHECK(std::string(info.args[0].name) == "x");
  CHECK(std::string(info.args[5].name) == "probabilities");
  kiln_bundle_close(bundle);
}

// A bundle kilnc wrote at format version 1 (checked in: test/bundle/testdata/v1_model.kiln, from
// :bundles on 2026-12-04), with its inputs and outputs: later runtimes must keep loading it.
TEST_CASE("a version 1 bundle from an earlier Kiln still loads and runs") {
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  const kiln_bundle_options options = Options();
  REQUIRE(kiln_bundle_open((std::string(kDir) + "testdata/v1_model.kiln").c_str(), &options,
                           &bundle, message, sizeof message) == KILN_OK);
  const std::vector<float> input = Floats(std::string(kDir) + "testdata/v1_inputs.bin");
  const std::vector<float> expected = Floats(std::string(kDir) + "testdata/v1_expected.bin");
  std::vector<float> out(expected.size(), -1.0f);
  const void* inputs[] = {input.data()};
  void* outputs[] = {out.data()};
  kiln_context* context = kiln_dnnl_context_create(1);
  CHECK(kiln_bundle_run(bundle, 0, inputs, outputs, context) == KILN_OK);
  for (size_t i = 0; i < expected.size(); ++i) CHECK(std::fabs(out[i] - expected[i]) <= 1e-5f);
  kiln_context_destroy(context);
  kiln_bundle_close(bundle);
}

TEST_CASE("runs from 8 threads at once equal the interpreter's") {
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  const kiln_bundle_options options = Options();
  REQUIRE(kiln_bundle_open((std::string(kDir) + "model.kiln").c_str(), &options, &bundle, message,
                           sizeof message) == KILN_OK);
  const std::vector<float> input = Floats(std::string(kDir) + "inputs.bin");
  const std::vector<float> expected = Floats(std::string(kDir) + "expected.bin");
  REQUIRE(input.size() == 64);
  REQUIRE(expected.size() == 12);
  std::vector<int> mismatches(8, 0), failures(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      kiln_context* context = kiln_dnnl_context_create(1);
      kiln_bundle_prepare(bundle, 0, context);
      for (int run = 0; run < 200; ++run) {
        std::vector<float> x = input, out(12, -1.0f);
        x[0] += 0.0f * t;
        const void* inputs[] = {x.data()};
        void* outputs[] = {out.data()};
        if (kiln_bundle_run(bundle, 0, inputs, outputs, context) != KILN_OK) ++failures[t];
        for (int i = 0; i < 12; ++i) {
          if (std::fabs(out[i] - expected[i]) > 1e-5f) ++mismatches[t];
        }
      }
      kiln_context_destroy(context);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 8; ++t) {
    INFO("thread " << t);
    CHECK(failures[t] == 0);
    CHECK(mismatches[t] == 0);
  }
  kiln_bundle_close(bundle);
}

TEST_CASE("the C++ wrapper opens, describes and runs, and checks the buffer counts") {
  auto bundle = kiln::rt::Bundle::Open(std::string(kDir) + "model.kiln", kiln_dnnl_symbols);
  REQUIRE(bundle.ok());
  const int sig = (*bundle)->Find("serving_default");
  REQUIRE(sig == 0);
  CHECK((*bundle)->name(sig) == "serving_default");
  CHECK((*bundle)->signature(sig).num_args == 6);
  const std::vector<float> input = Floats(std::string(kDir) + "inputs.bin");
  const std::vector<float> expected = Floats(std::string(kDir) + "expected.bin");
  std::vector<float> out(expected.size(), -1.0f);
  kiln::rt::Context context(kiln_dnnl_context_create(1));
  (*bundle)->Prepare(sig, context);
  REQUIRE((*bundle)->Run(sig, {input.data()}, {out.data()}, context).ok());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(std::fabs(out[i] - expected[i]) <= 1e-5f);
  kiln::rt::Status wrong = (*bundle)->Run(sig, {}, {out.data()}, context);
  CHECK(wrong.code() == KILN_INVALID_ARGUMENT);
  CHECK_THAT(wrong.message(), Catch::Contains("takes 1 inputs and 1 outputs, not 0 and 1"));
  auto missing = kiln::rt::Bundle::Open(std::string(kDir) + "missing.kiln");
  CHECK(missing.status().code() == KILN_NOT_FOUND);
  CHECK_THAT(missing.status().message(), Catch::Contains("missing.kiln: cannot open"));
}

TEST_CASE("a bundle at several batch sizes picks the smallest that fits") {
  auto bundle = kiln::rt::Bundle::Open(std::string(kDir) + "model_batches.kiln", kiln_dnnl_symbols);
  REQUIRE(bundle.ok());
  REQUIRE((*bundle)->num_signatures() == 3);
  CHECK((*bundle)->batch_size(2) == 16);
  CHECK((*bundle)->FindBatch("serving_default", 2) == 1);
  const kiln_bundle* b = nullptr;
  kiln_bundle_options options = Options();
  kiln_bundle* raw = nullptr;
  char message[512];
  REQUIRE(kiln_bundle_open((std::string(kDir) + "model_batches.kiln").c_str(), &options, &raw,
                           message, sizeof message) == KILN_OK);
  b = raw;
  std::vector<int64_t> sizes;
  for (int i = 0; i < 3; ++i) {
    CHECK(std::string(kiln_bundle_signature_name(b, i)) == "serving_default");
    sizes.push_back(kiln_bundle_batch_size(b, i));
  }
  CHECK(sizes == std::vector<int64_t>{1, 4, 16});
  CHECK(kiln_bundle_find_batch(b, "serving_default", 1) == 0);
  CHECK(kiln_bundle_find_batch(b, "serving_default", 3) == 1);
  CHECK(kiln_bundle_find_batch(b, "serving_default", 5) == 2);
  CHECK(kiln_bundle_find_batch(b, "serving_default", 17) == -1);
  CHECK(kiln_bundle_find_batch(b, "other", 1) == -1);
  // The batch-4 signature gives the interpreter's outputs for the batch of 4.
  const std::vector<float> input = Floats(std::string(kDir) + "inputs.bin");
  const std::vector<float> expected = Floats(std::string(kDir) + "expected.bin");
  std::vector<float> out(expected.size(), -1.0f);
  const void* inputs[] = {input.data()};
  void* outputs[] = {out.data()};
  kiln_context* context = kiln_dnnl_context_create(1);
  CHECK(kiln_bundle_run(b, 1, inputs, outputs, context) == KILN_OK);
  for (size_t i = 0; i < expected.size(); ++i) CHECK(std::fabs(out[i] - expected[i]) <= 1e-5f);
  // Batch 16, with the 4 rows padded by zeros: the first 4 rows are the same.
  std::vector<float> input16(16 * 16, 0.0f), out16(16 * 3, -1.0f);
  std::copy(input.begin(), input.end(), input16.begin());
  const void* inputs16[] = {input16.data()};
  void* outputs16[] = {out16.data()};
  CHECK(kiln_bundle_run(b, 2, inputs16, outputs16, context) == KILN_OK);
  for (size_t i = 0; i < expected.size(); ++i) CHECK(std::fabs(out16[i] - expected[i]) <= 1e-5f);
  kiln_context_destroy(context);
  kiln_bundle_close(raw);
}

TEST_CASE("a copy with other weights is written atomically and runs with them") {
  auto bundle = kiln::rt::Bundle::Open(std::string(kDir) + "model.kiln", kiln_dnnl_symbols);
  REQUIRE(bundle.ok());
  const kiln_model_info& info = (*bundle)->signature(0);
  std::vector<kiln_tensor> weights;
  std::vector<std::vector<char>> zeros;
  for (int i = 0; i < info.num_args; ++i) {
    const kiln_model_arg& a = info.args[i];
    if (a.role != KILN_ROLE_VARIABLE) continue;
    zeros.emplace_back(a.bytes, 0);
    weights.push_back({a.name, a.dtype, a.rank, a.dims, zeros.back().data()});
  }
  REQUIRE(weights.size() == 4);
  kiln_bundle_options options = Options();
  kiln_bundle* raw = nullptr;
  char message[512];
  REQUIRE(kiln_bundle_open((std::string(kDir) + "model.kiln").c_str(), &options, &raw, message,
                           sizeof message) == KILN_OK);
  const std::string out_path = Temp("zero_weights.kiln", "");
  REQUIRE(kiln_bundle_write_weights(raw, weights.data(), weights.size(), out_path.c_str(), message,
                                    sizeof message) == KILN_OK);
  // Every weight zero: every logit zero, every probability 1/3.
  auto zeroed = kiln::rt::Bundle::Open(out_path, kiln_dnnl_symbols);
  REQUIRE(zeroed.ok());
  const std::vector<float> input = Floats(std::string(kDir) + "inputs.bin");
  std::vector<float> out(12, -1.0f);
  kiln::rt::Context context(kiln_dnnl_context_create(1));
  REQUIRE((*zeroed)->Run(0, {input.data()}, {out.data()}, context).ok());
  for (float p : out) CHECK(std::fabs(p - 1.0f / 3) <= 1e-6f);
  // Not every weight, or one of another shape: nothing is written.
  CHECK(kiln_bundle_write_weights(raw, weights.data(), 3, out_path.c_str(), message,
                                  sizeof message) == KILN_INVALID_ARGUMENT);
  CHECK_THAT(std::string(message), Catch::Contains("3 tensors for the bundle's 4 weights"));
  weights[1].rank = 0;
  CHECK(kiln_bundle_write_weights(raw, weights.data(), weights.size(), out_path.c_str(), message,
                                  sizeof message) == KILN_INVALID_ARGUMENT);
  CHECK_THAT(std::string(message), Catch::Contains("is no weight of the bundle of that type"));
  kiln_bundle_close(raw);
}

// A signature's buffers by argument name, in description order.
template <typename T>
std::vector<T> ByName(const kiln_model_info& info, kiln_arg_role role,
                      const std::map<std::string, T>& buffers) {
  std::vector<T> out;
  for (int i = 0; i < info.num_args; ++i) {
    if (info.args[i].role == role) out.push_back(buffers.at(info.args[i].name));
  }
  return out;
}

TEST_CASE("a training step in a bundle trains its weights, as the interpreter does") {
  const std::string path = std::string(kDir) + "model_train.kiln";
  const std::string original = Read(path);
  auto bundle = kiln::rt::Bundle::Open(path, kiln_dnnl_symbols);
  REQUIRE(bundle.ok());
  const int train = (*bundle)->Find("train_step");
  const int serve = (*bundle)->FindBatch("serving_default", 4);
  REQUIRE(train >= 0);
  REQUIRE(serve >= 0);
  CHECK((*bundle)->signature(train).training != 0);
  const std::vector<float> input = Floats(std::string(kDir) + "inputs.bin");
  const std::vector<float> expected = Floats(std::string(kDir) + "train_expected.bin");
  REQUIRE(expected.size() == 3 + 12);
  const std::vector<int32_t> labels = {0, 1, 2, 0};
  const float learning_rate = 0.01f;
  float loss = 0;
  const kiln_model_info& info = (*bundle)->signature(train);
  const std::vector<const void*> inputs = ByName<const void*>(
      info, KILN_ROLE_INPUT,
      {{"x", input.data()}, {"labels", labels.data()}, {"learning_rate", &learning_rate}});
  const std::vector<void*> outputs = ByName<void*>(info, KILN_ROLE_OUTPUT, {{"loss", &loss}});
  kiln::rt::Context context(kiln_dnnl_context_create(1));
  for (int step = 0; step < 3; ++step) {
    REQUIRE((*bundle)->Run(train, inputs, outputs, context).ok());
    CHECK(std::fabs(loss - expected[step]) <= 1e-5f * std::max(1.0f, std::fabs(expected[step])));
  }
  // Every signature now uses the trained weights.
  std::vector<float> probabilities(12, -1.0f);
  REQUIRE((*bundle)->Run(serve, {input.data()}, {probabilities.data()}, context).ok());
  for (int i = 0; i < 12; ++i) CHECK(std::fabs(probabilities[i] - expected[3 + i]) <= 1e-5f);
  // Saved, they open and run from a new bundle; the file it came from is unchanged.
  const std::string saved = Temp("trained.kiln", "");
  REQUIRE((*bundle)->Save(saved).ok());
  CHECK(Read(path) == original);
  auto trained = kiln::rt::Bundle::Open(saved, kiln_dnnl_symbols);
  REQUIRE(trained.ok());
  std::vector<float> again(12, -1.0f);
  REQUIRE((*trained)
              ->Run((*trained)->FindBatch("serving_default", 4), {input.data()}, {again.data()},
                    context)
              .ok());
  CHECK(again == probabilities);
  // From memory the weights are read-only: a training step is refused, saying why.
  void* memory = nullptr;
  REQUIRE(posix_memalign(&memory, 64, original.size()) == 0);
  std::memcpy(memory, original.data(), original.size());
  kiln_bundle* in_memory = nullptr;
  char message[512] = "";
  const kiln_bundle_options options = Options();
  REQUIRE(kiln_bundle_open_memory(memory, original.size(), &options, &in_memory, message,
                                  sizeof message) == KILN_OK);
  CHECK(kiln_bundle_run(in_memory, train, inputs.data(), outputs.data(), context.get()) ==
        KILN_FAILED_PRECONDITION);
  CHECK_THAT(context.TakeStatus().message(), Catch::Contains("open the bundle from a file"));
  kiln_bundle_close(in_memory);
  std::free(memory);
}

TEST_CASE("bad files are rejected with the file and the reason") {
  const std::string good = Read(std::string(kDir) + "model.kiln");
  REQUIRE(good.size() > 4096);
  struct Case {
    const char* name;
    std::string bytes;
    kiln_status_code code;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", "", KILN_DATA_LOSS, "empty file"});
  cases.push_back({"magic", "KILNCKPT" + good.substr(8), KILN_DATA_LOSS, "not a Kiln bundle"});
  std::string newer = good;
  kiln::rt::PutLittleEndian(newer.data() + 8, 2, 4);
  cases.push_back({"newer", Resealed(newer), KILN_FAILED_PRECONDITION,
                   "format version 2 is newer than this runtime reads (1)"});
  std::string abi = good;
  kiln::rt::PutLittleEndian(abi.data() + 12, 9, 4);
  cases.push_back({"abi", Resealed(abi), KILN_FAILED_PRECONDITION, "model ABI version 9 is newer"});
  std::string header = good;
  header[20] ^= 1;
  cases.push_back({"header", header, KILN_DATA_LOSS, "header checksum mismatch"});
  cases.push_back({"truncated", good.substr(0, good.size() - 100), KILN_DATA_LOSS, "truncated"});
  cases.push_back({"short", good.substr(0, 40), KILN_DATA_LOSS, "not a Kiln bundle"});
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x10;  // inside the weights
  cases.push_back({"flipped", flipped, KILN_DATA_LOSS, "checksum mismatch"});
  const uint64_t table = kiln::rt::GetLittleEndian(good.data() + 24, 8);
  std::string range = good;
  kiln::rt::PutLittleEndian(range.data() + table + 8, good.size() - 10, 8);  // section 0's offset
  cases.push_back({"range", Resealed(range), KILN_DATA_LOSS, "section 0 lies outside the file"});
  std::string table_range = good;
  kiln::rt::PutLittleEndian(table_range.data() + 24, good.size() + 64, 8);
  cases.push_back({"table", Resealed(table_range), KILN_DATA_LOSS, "section table out of range"});
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string path = Temp(std::string("bad_") + c.name + ".kiln", c.bytes);
    auto [code, message] = Open(path);
    CHECK(code == c.code);
    CHECK_THAT(message, Catch::Contains(path) && Catch::Contains(c.message));
  }
  auto [code, message] = Open(std::string(kDir) + "no_such.kiln");
  CHECK(code == KILN_NOT_FOUND);
  CHECK_THAT(message, Catch::Contains("no_such.kiln: cannot open"));
}

TEST_CASE("a bundle for another machine says which signatures it has") {
  auto [code, message] = Open(std::string(kDir) + "model_aarch64.kiln");
  CHECK(code == KILN_FAILED_PRECONDITION);
  CHECK_THAT(message, Catch::Contains("no signature for this machine (x86_64): it has "
                                      "serving_default (aarch64-linux)"));
}

}  // namespace
