// Wiring check for oneDNN (libdnnl-dev 2.6): a small matmul through the 2.x primitive API.
#include "oneapi/dnnl/dnnl.hpp"

#include <vector>

#include "catch2/catch.hpp"

namespace {

TEST_CASE("oneDNN computes a matmul on the CPU engine") {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::dims a_dims = {2, 3}, b_dims = {3, 2}, c_dims = {2, 2};
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc a_md(a_dims, dt::f32, tag::ab), b_md(b_dims, dt::f32, tag::ab),
      c_md(c_dims, dt::f32, tag::ab);

  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {7, 8, 9, 10, 11, 12}, c(4, 0.0f);
  dnnl::memory a_mem(a_md, engine, a.data()), b_mem(b_md, engine, b.data()),
      c_mem(c_md, engine, c.data());

  // ReLU epilogue as a post-op, the way fused MatMul+activation will be emitted.
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
  dnnl::matmul(pd).execute(
      stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  stream.wait();

  // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
  REQUIRE(c == std::vector<float>{58, 64, 139, 154});
}

}  // namespace
