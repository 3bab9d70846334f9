// The Bazel embedding path: kiln_aot_library compiled the regression graph at build time; this test
// links the generated library, trains 5 steps and compares with the interpreter's numbers.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "test/aot/regression.h"

namespace {

TEST_CASE("A graph compiled by kiln_aot_library trains like the interpreter") {
  auto model = std::make_unique<kiln_generated::Regression>();
  std::ifstream in("test/aot/inputs.bin", std::ios::binary);
  in.read(reinterpret_cast<char*>(model->x()), sizeof(float) * model->kXSize);
  in.read(reinterpret_cast<char*>(model->y()), sizeof(float) * model->kYSize);
  in.read(reinterpret_cast<char*>(model->learning_rate()), sizeof(float));
  REQUIRE(in.good());
  std::ifstream expected_file("test/aot/expected.txt");
  std::vector<double> expected;
  for (double v; expected_file >> v;) expected.push_back(v);
  REQUIRE(expected.size() == 5 + model->kDenseKernelSize);

  REQUIRE(model->global_step()[0] == 0);
  for (int step = 0; step < 5; ++step) {
    INFO("step " << step);
    REQUIRE(model->Run().ok());
    REQUIRE(std::fabs(model->loss()[0] - expected[step]) <=
            1e-5 * std::max(1.0, std::fabs(expected[step])));
  }
  REQUIRE(model->global_step()[0] == 5);
  for (std::size_t i = 0; i < model->kDenseKernelSize; ++i) {
    const double e = expected[5 + i];
    REQUIRE(std::fabs(model->dense_kernel()[i] - e) <= 1e-5 * std::max(1.0, std::fabs(e)));
  }
  // Reset() restores the initial state: the first step repeats exactly.
  model->Reset();
  REQUIRE(model->Run().ok());
  REQUIRE(std::fabs(model->loss()[0] - expected[0]) <=
          1e-5 * std::max(1.0, std::fabs(expected[0])));
}

TEST_CASE("The generated class lists its arrays with names, dtypes and shapes") {
  auto model = std::make_unique<kiln_generated::Regression>();
  std::vector<std::string> names;
  for (const kiln_tensor& t : model->variables()) {
    names.push_back(t.name);
    REQUIRE(t.data != nullptr);
    if (std::string(t.name) == "dense/kernel") {
      REQUIRE(t.dtype == KILN_F32);
      REQUIRE(t.rank == 2);
      REQUIRE(kiln_tensor_num_elements(&t) == static_cast<int64_t>(model->kDenseKernelSize));
      REQUIRE(t.data == model->dense_kernel());
    }
    if (std::string(t.name) == "global_step") REQUIRE(t.dtype == KILN_I64);
  }
  REQUIRE(names.size() == model->kNumVariables);
  REQUIRE(std::count(names.begin(), names.end(), "dense/kernel") == 1);
  REQUIRE(std::count(names.begin(), names.end(), "global_step") == 1);
  REQUIRE(model->inputs().size() == model->kNumInputs);
  REQUIRE(std::string(model->outputs()[0].name) == "loss");
  REQUIRE(model->outputs()[0].rank == 0);
}

}  // namespace
