// One app against either target's generated class: this file is compiled against the CPU header and
// the CUDA header (test/aot/BUILD) of test/aot/names.pbtxt, a graph whose names C++ or the class
// already uses (renamed in the header, so it compiles), and uses the interface both classes share:
// a default constructor, zeroed inputs, name-checked setters, Run, accessors and the tables.
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "catch2/catch.hpp"
#include "runtime/kiln_model.h"
#include "runtime/runtime.h"
#include KILN_MODEL_HEADER

#ifdef KILN_FAKE_GPU
#include "runtime/testdata/fake_cuda.h"
#endif

namespace {

using Model = kiln_generated::KILN_MODEL_CLASS;

std::unique_ptr<Model> MakeModel() {
#ifdef KILN_FAKE_GPU
  // The default constructor opens a CUDA context of its own: here on the fake driver.
  setenv("KILN_CUDA_DRIVER", kiln::testing::kFakeCudaDriver, 1);
#endif
  return std::make_unique<Model>();
}

TEST_CASE("Renamed arguments keep their graph names in the tables") {
  auto model = MakeModel();
  // C++ keywords, the class's own members and macros get a suffix; reserved spellings are fixed.
  model->class_2()[0] = 1;
  model->inputs_2()[0] = 1;
  model->Run_2()[0] = 1;
  model->assert_2()[0] = 1;
  model->x_y()[0] = 1;
  model->x_y_2()[0] = 1;
  (void)model->context_2();
  (void)model->private_2();
  (void)model->t_9lives();
  (void)model->t_kiln_state();
  (void)model->Reset_2();
  (void)model->arena_2();
  (void)model->NamesModel_2();
  (void)model->float_2();
  (void)model->a_b();
  (void)model->T_2();
  (void)model->int64_t_2();
  (void)model->Set_2();
  const auto inputs = model->inputs();
  REQUIRE(inputs.size() == 6);
  CHECK(std::string(inputs[0].name) == "class");
  CHECK(std::string(inputs[4].name) == "x/y");
  CHECK(std::string(model->outputs()[4].name) == "a__b");
  CHECK(std::string(model->variables()[1].name) == "_private");
}

TEST_CASE("Inputs start zeroed") {
  auto model = MakeModel();
  for (const kiln_tensor& t : model->inputs()) {
    INFO(t.name);
    const auto* bytes = static_cast<const unsigned char*>(t.data);
    for (size_t i = 0; i < kiln_tensor_bytes(&t); ++i) REQUIRE(bytes[i] == 0);
  }
}

TEST_CASE("Set checks the name, the element type and the count") {
  auto model = MakeModel();
  const float two[2] = {3, 4};
  const int32_t ints[2] = {5, 6};
  REQUIRE(model->Set("class", two, 2).ok());
  CHECK(model->class_2()[1] == 4);
  REQUIRE(model->Set("assert", ints, 2).ok());
  CHECK(model->assert_2()[0] == 5);
  REQUIRE(model->Set("context", two, 2).ok());  // a variable
  CHECK(model->context_2()[0] == 3);
  kiln::rt::Status wrong_type = model->Set("class", ints, 2);
  CHECK(wrong_type.code() == KILN_INVALID_ARGUMENT);
  CHECK(wrong_type.message() == "'class' is f32[2], not i32");
  kiln::rt::Status wrong_count = model->Set("inputs", two, 1);
  CHECK(wrong_count.message() == "'inputs' is f32[2] (2 elements), not 1 elements");
  kiln::rt::Status unknown = model->Set("Reset", two, 2);  // an output
  CHECK(unknown.message() == "the model has no input or variable 'Reset'");
  CHECK(model->class_2()[0] == 3);  // nothing copied by the failed calls
}

TEST_CASE("Run computes the outputs and the object describes itself") {
  auto model = MakeModel();
  const float a[2] = {1, 2}, b[2] = {10, 20};
  REQUIRE(model->Set("class", a, 2).ok());
  REQUIRE(model->Set("inputs", b, 2).ok());
  REQUIRE(model->Run().ok());
#ifndef KILN_FAKE_GPU  // the fake driver runs no kernels
  CHECK(model->Reset_2()[1] == 22);
  CHECK(model->T_2()[0] == 11);
  CHECK(model->a_b()[0] == 6);  // three variables initialized to 2
#endif
  uint64_t size = 0;
  const void* description = kiln_names_model_model_description(&size);
  kiln_model_info info;
  char message[200];
  REQUIRE(kiln_model_info_parse(description, size, &info, message, sizeof message) == KILN_OK);
  CHECK(std::string(info.target) == Model::kTarget);
  CHECK(std::string(info.fingerprint) == Model::kFingerprint);
  REQUIRE(info.num_args == 6 + 4 + 8);
  CHECK(std::string(info.args[0].identifier) == "class_2");
  CHECK(info.arena_bytes == Model::kArenaBytes);
  kiln_model_info_release(&info);
}

}  // namespace
