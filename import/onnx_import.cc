#include "import/onnx_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "graph/status_macros.h"
#include "onnx/onnx_pb.h"

namespace kiln {
namespace {

// Opsets below this differ in ops' semantics (e.g. Softmax's axis, Reshape's inputs).
constexpr int64_t kOldestOpset = 13;

absl::StatusOr<DType> FromOnnx(int32_t type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: return DType::kF32;
    case onnx::TensorProto::DOUBLE: return DType::kF64;
    case onnx::TensorProto::FLOAT16: return DType::kF16;
    case onnx::TensorProto::BFLOAT16: return DType::kBF16;
    case onnx::TensorProto::INT8: return DType::kI8;
    case onnx::TensorProto::INT32: return DType::kI32;
    case onnx::TensorProto::INT64: return DType::kI64;
    case onnx::TensorProto::BOOL: return DType::kBool;
    default:
      // Types newer than Debian's libonnx (e.g. the float8 ones) have no name there.
      return absl::UnimplementedError(absl::StrCat("ONNX element type ",
                                                   onnx::TensorProto::DataType_IsValid(type)
                                                       ? onnx::TensorProto::DataType_Name(type)
                                                       : absl::StrCat(type),
                                                   " has no Kiln dtype"));
  }
}

template <typename Field, typename T>
std::string Packed(const Field& field, T) {
  std::string bytes(field.size() * sizeof(T), '\0');
  for (int i = 0; i < field.size(); ++i) {
    const T v = static_cast<T>(field.Get(i));
    std::memcpy(&bytes[i * sizeof(T)], &v, sizeof(T));
  }
  return bytes;
}

// An initializer's or a Constant's value; external data is read from beside the model.
absl::StatusOr<TensorData> Value(const onnx::TensorProto& t, const std::filesystem::path& dir) {
  KILN_ASSIGN_OR_RETURN(DType dtype, FromOnnx(t.data_type()));
  Shape shape(std::vector<int64_t>(t.dims().begin(), t.dims().end()));
  std::string bytes;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& e : t.external_data()) {
      if (e.key() == "location") location = e.value();
      if (e.key() == "offset") offset = std::stoll(e.value());
      if (e.key() == "length") length = std::stoll(e.value());
    }
    const std::filesystem::path file = dir / location;
    std::ifstream in(file, std::ios::binary);
    if (location.empty() || !in)
      return absl::NotFoundError(absl::StrCat("external data '", file.string(), "' not found"));
    if (length < 0) length = shape.NumElements() * DTypeSize(dtype);
    bytes.resize(static_cast<size_t>(length));
    in.seekg(offset);
    if (!in.read(bytes.data(), length)) {
      return absl::DataLossError(absl::StrCat("external data '", file.string(), "' has no ", length,
                                              " bytes at ", offset));
    }
  } else if (t.has_raw_data()) {
    bytes = t.raw_data();
  } else {
    switch (dtype) {
      case DType::kF32: bytes = Packed(t.float_data(), float{}); break;
      case DType::kF64: bytes = Packed(t.double_data(), double{}); break;
      case DType::kI64: bytes = Packed(t.int64_data(), int64_t{}); break;
      case DType::kI32: bytes = Packed(t.int32_data(), int32_t{}); break;
      case DType::kI8: bytes = Packed(t.int32_data(), int8_t{}); break;
      case DType::kBool: bytes = Packed(t.int32_data(), uint8_t{}); break;
      case DType::kF16:
      case DType::kBF16: bytes = Packed(t.int32_data(), uint16_t{}); break;
    }
  }
  return TensorData::FromBytes(dtype, std::move(shape), std::move(bytes));
}

// A Kiln node name for an ONNX name ("onnx::MatMul_12" → "onnx__MatMul_12").
std::string KilnName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '/' && c != '.') c = '_';
  }
  return out.empty() ? "unnamed" : out;
}

const onnx::AttributeProto* Attr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}
int64_t IntAttr(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  const onnx::AttributeProto* a = Attr(node, name);
  return a != nullptr ? a->i() : fallback;
}
float FloatAttr(const onnx::NodeProto& node, const std::string& name, float fallback) {
  const onnx::AttributeProto* a = Attr(node, name);
  return a != nullptr ? a->f() : fallback;
}

int64_t Axis(int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }

std::vector<int64_t> IntsAttr(const onnx::NodeProto& node, const std::string& name) {
  const onnx::AttributeProto* a = Attr(node, name);
  return a != nullptr ? std::vector<int64_t>(a->ints().begin(), a->ints().end())
                      : std::vector<int64_t>{};
}

std::vector<int64_t> Ints(const TensorData& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.size(); ++i) v.push_back(static_cast<int64_t>(t.at(i)));
  return v;
}

// What converting one model needs: the values by ONNX name, the initializers not yet used.
struct Context {
  Graph& g;
  std::filesystem::path dir;
  std::map<std::string, Tensor> values;
  std::map<std::string, const onnx::TensorProto*> initializers;
  const onnx::NodeProto* node = nullptr;
  int64_t opset = 0;

  // "ONNX node 'fc1' (Gemm, opset 17)", as every error names the node.
  std::string Where() const {
    return absl::StrCat("ONNX node '", node->name(), "' (", node->op_type(), ", opset ", opset,
                        ")");
  }
  absl::Status Error(const std::string& message) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(), ": ", message));
  }
  // Input `i` as a tensor: a value, or an initializer (a float one as a trainable Variable).
  absl::StatusOr<Tensor> Input(int i) {
    if (i >= node->input_size() || node->input(i).empty())
      return Error(absl::StrCat("input ", i, " is missing"));
    const std::string& name = node->input(i);
    auto v = values.find(name);
    if (v != values.end()) return v->second;
    auto init = initializers.find(name);
    if (init == initializers.end()) return Error(absl::StrCat("input '", name, "' is not defined"));
    KILN_ASSIGN_OR_RETURN(TensorData value, Value(*init->second, dir));
    const Tensor t = IsFloat(value.dtype())
                         ? ops::Variable(g, KilnName(name), value.dtype(), value.shape(),
                                         ops::Initializer::Value(value))
                         : ops::Const(g, std::move(value), KilnName(name));
    values.emplace(name, t);
    return t;
  }
  bool Has(int i) const { return i < node->input_size() && !node->input(i).empty(); }
  // Input `i` as a constant (e.g. Reshape's shape): an initializer or a Constant's value.
  absl::StatusOr<TensorData> ConstantInput(int i) {
    if (!Has(i)) return Error(absl::StrCat("input ", i, " is missing"));
    auto init = initializers.find(node->input(i));
    if (init != initializers.end()) return Value(*init->second, dir);
    auto c = constants.find(node->input(i));
    if (c != constants.end()) return c->second;
    if (graph_inputs.count(node->input(i))) {
      return Error(absl::StrCat("input ", i, " ('", node->input(i),
                                "') must be a constant; graph input '", node->input(i),
                                "' can be bound to a value at import"));
    }
    return Error(absl::StrCat("input ", i, " ('", node->input(i),
                              "') must be a constant: computed shapes are not supported"));
  }
  std::map<std::string, TensorData> constants;  // Constant nodes' values, by output name
  std::set<std::string> graph_inputs;           // the model's inputs (placeholders), by name

  // A list of axes given as attribute `name` (older opsets) or as constant input `i` (newer).
  absl::StatusOr<std::vector<int64_t>> Axes(const std::string& name, int i) {
    if (!Has(i)) return IntsAttr(*node, name);
    KILN_ASSIGN_OR_RETURN(TensorData axes, ConstantInput(i));
    return Ints(axes);
  }
};

using Outputs = std::vector<Tensor>;
using Converter = std::function<absl::StatusOr<Outputs>(Context&)>;

// The attributes each converter reads (any other is an error, never ignored).
const std::map<std::string, std::set<std::string>>& Attributes() {
  static const auto* attributes = new std::map<std::string, std::set<std::string>>{
      {"Gemm", {"alpha", "beta", "transA", "transB"}},
      {"Softmax", {"axis"}},
      {"LogSoftmax", {"axis"}},
      {"Flatten", {"axis"}},
      {"Reshape", {"allowzero"}},
      {"Transpose", {"perm"}},
      {"Constant", {"value", "value_float", "value_floats", "value_int", "value_ints"}},
      {"Cast", {"to", "saturate"}},
      {"Concat", {"axis"}},
      {"Unsqueeze", {"axes"}},
      {"Squeeze", {"axes"}},
      {"ArgMax", {"axis", "keepdims", "select_last_index"}},
      {"Gather", {"axis"}},
      {"Shape", {"start", "end"}},
      {"Mod", {"fmod"}},
      {"Resize",
       {"antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
        "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode"}},
      {"GatherElements", {"axis"}},
      {"CumSum", {"exclusive", "reverse"}},
      {"ReduceSumSquare", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"ReduceL1", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"ReduceL2", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"ReduceLogSumExp", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"Pad", {"mode"}},
      {"Trilu", {"upper"}},
      {"NegativeLogLikelihoodLoss", {"ignore_index", "reduction"}},
      {"SoftmaxCrossEntropyLoss", {"ignore_index", "reduction"}},
      {"Conv", {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
      {"MaxPool",
       {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
      {"AveragePool",
       {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads",
        "strides"}},
      {"BatchNormalization", {"epsilon", "momentum", "training_mode"}},
      {"ArgMin", {"axis", "keepdims", "select_last_index"}},
      {"ConstantOfShape", {"value"}},
      {"Dropout", {"seed"}},
      {"Split", {"axis", "num_outputs"}},
      {"LayerNormalization", {"axis", "epsilon", "stash_type"}},
      {"RMSNormalization", {"axis", "epsilon", "stash_type"}},
      {"CastLike", {"saturate"}},
      {"ReduceSum", {"keepdims", "noop_with_empty_axes"}},
      {"ReduceMean", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"ReduceMax", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"ReduceMin", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"ReduceProd", {"axes", "keepdims", "noop_with_empty_axes"}},
  };
  return *attributes;
}

// A converter of a one-input op.
Converter Unary(Tensor (*op)(Tensor, SourceLoc)) {
  return [op](Context& c) -> absl::StatusOr<Outputs> {
    KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
    return Outputs{op(x, SourceLoc::Current())};
  };
}
// A converter of a two-input op with NumPy broadcasting (as ONNX's since opset 7).
Converter Binary(Tensor (*op)(Tensor, Tensor, SourceLoc)) {
  return [op](Context& c) -> absl::StatusOr<Outputs> {
    if (c.node->input_size() != 2)  // Max and Min take any number
      return c.Error(absl::StrCat(c.node->input_size(), " inputs are not supported (only 2)"));
    KILN_ASSIGN_OR_RETURN(Tensor a, c.Input(0));
    KILN_ASSIGN_OR_RETURN(Tensor b, c.Input(1));
    return Outputs{op(a, b, SourceLoc::Current())};
  };
}

// ONNX's image layout (NCHW) to Kiln's convolutions' (NHWC) and back.
Tensor ToNhwc(Tensor x) { return ops::Transpose(x, {0, 2, 3, 1}); }
Tensor ToNchw(Tensor x) { return ops::Transpose(x, {0, 3, 1, 2}); }

// A window attribute of a 1-D or 2-D op as the 2-D one's: a 1-D op runs as 2-D over [L, 1], so
// its [v] becomes [v, 1] and its pads [begin, end] become [begin, 0, end, 0].
std::vector<int64_t> Window(const Context& c, const std::string& name, bool one_d) {
  std::vector<int64_t> v = IntsAttr(*c.node, name);
  if (!one_d || v.empty()) return v;
  if (name == "pads") return v.size() == 2 ? std::vector<int64_t>{v[0], 0, v[1], 0} : v;
  if (name == "kernel_shape" || name == "strides" || name == "dilations")
    return v.size() == 1 ? std::vector<int64_t>{v[0], 1} : v;
  return v;
}

// [N, C, L] as [N, C, L, 1], for a 1-D window op to run as a 2-D one.
Tensor AsImage(Tensor x) {
  std::vector<int64_t> dims = x.shape().dims();
  dims.push_back(1);
  return ops::Reshape(x, Shape(dims));
}

// [N, C, L, 1] back to [N, C, L].
Tensor Squeezed(Tensor y) {
  std::vector<int64_t> dims = y.shape().dims();
  dims.pop_back();
  return ops::Reshape(y, Shape(dims));
}

// A 2-D window op's padding: auto_pad, or pads {top, left, bottom, right} as Kiln's explicit
// {top, bottom, left, right}.
absl::Status Padding(const Context& c, bool one_d, std::string* mode, std::vector<int64_t>* pads) {
  const onnx::AttributeProto* a = Attr(*c.node, "auto_pad");
  const std::string auto_pad = a != nullptr ? a->s() : "NOTSET";
  if (auto_pad == "VALID") {
    *mode = "VALID";
  } else if (auto_pad == "SAME_UPPER") {
    *mode = "SAME";
  } else if (auto_pad != "NOTSET") {
    return c.Error("auto_pad " + auto_pad + " is not supported");
  } else {
    std::vector<int64_t> p = Window(c, "pads", one_d);
    if (p.empty()) p = {0, 0, 0, 0};
    if (p.size() != 4) return c.Error("only 2-D pads are supported");
    *mode =
        std::all_of(p.begin(), p.end(), [](int64_t v) { return v == 0; }) ? "VALID" : "EXPLICIT";
    *pads = {p[0], p[2], p[1], p[3]};
  }
  return absl::OkStatus();
}

// A pool's ONNX attributes as Kiln's, padding the input (with `pad_value`) where it has pads.
absl::StatusOr<Tensor> PoolInput(Context& c, Tensor x, double pad_value,
                                 ops::Pool2DOptions* options) {
  const bool one_d = x.rank() == 3;
  if (one_d) x = AsImage(x);
  if (x.rank() != 4) return c.Error("only 1-D and 2-D pools (NCHW) are supported");
  if (IntAttr(*c.node, "ceil_mode", 0) != 0) return c.Error("ceil_mode=1 is not supported");
  const std::vector<int64_t> dilations = IntsAttr(*c.node, "dilations");
  if (std::any_of(dilations.begin(), dilations.end(), [](int64_t d) { return d != 1; }))
    return c.Error("dilations are not supported");
  options->ksize = Window(c, "kernel_shape", one_d);
  options->strides = Window(c, "strides", one_d);
  if (options->strides.empty()) options->strides = {1, 1};
  if (options->ksize.size() != 2 || options->strides.size() != 2)
    return c.Error("only 2-D pools are supported");
  std::string mode;
  std::vector<int64_t> pads;
  KILN_RETURN_IF_ERROR(Padding(c, one_d, &mode, &pads));
  options->padding = mode == "SAME" ? "SAME" : "VALID";
  Tensor nhwc = ToNhwc(x);
  if (mode == "EXPLICIT")
    nhwc = ops::Pad(nhwc, {0, 0, pads[0], pads[1], pads[2], pads[3], 0, 0}, pad_value);
  return nhwc;
}

// A converter of a reduction: axes as attribute (opset 13, ReduceSum's as input) or input (18).
Converter Reduce(std::function<Tensor(Tensor, std::vector<int64_t>, bool, SourceLoc)> op) {
  return [op](Context& c) -> absl::StatusOr<Outputs> {
    KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.Axes("axes", 1));
    if (axes.empty() && IntAttr(*c.node, "noop_with_empty_axes", 0) != 0)
      return Outputs{ops::Identity(x)};
    return Outputs{op(x, axes, IntAttr(*c.node, "keepdims", 1) != 0, SourceLoc::Current())};
  };
}

// A permutation that moves `axis` first or last (the others in order), and its inverse.
struct Moved {
  std::vector<int64_t> perm, back;
};
Moved MoveAxis(int rank, int64_t axis, bool last) {
  Moved m;
  if (!last) m.perm.push_back(axis);
  for (int d = 0; d < rank; ++d) {
    if (d != axis) m.perm.push_back(d);
  }
  if (last) m.perm.push_back(axis);
  m.back.resize(rank);
  for (int d = 0; d < rank; ++d) m.back[m.perm[d]] = d;
  return m;
}

// A converter's output that static shapes make known at import: also recorded as a constant,
// for the ops that need one.
Outputs ConstantOutput(Context& c, TensorData value) {
  c.constants[c.node->output(0)] = value;
  return Outputs{ops::Const(c.g, std::move(value))};
}

// Global pools: the reduction over every spatial axis (2 and on), kept.
Converter GlobalPool(Tensor (*reduce)(Tensor, std::vector<int64_t>, bool, SourceLoc)) {
  return [reduce](Context& c) -> absl::StatusOr<Outputs> {
    KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
    if (x.rank() < 3) return c.Error("needs spatial dimensions");
    std::vector<int64_t> axes;
    for (int d = 2; d < x.rank(); ++d) axes.push_back(d);
    return Outputs{reduce(x, axes, /*keep_dims=*/true, SourceLoc::Current())};
  };
}

// GatherElements: out[..., j, ...] = data[..., indices[..., j, ...], ...] along `axis`: the axis
// moved last, each index one-hot over the data's extent, the picked element selected (not
// multiplied: an infinity elsewhere stays out) and summed.
absl::StatusOr<Outputs> GatherElements(Context& c) {
  KILN_ASSIGN_OR_RETURN(Tensor data, c.Input(0));
  KILN_ASSIGN_OR_RETURN(Tensor indices, c.Input(1));
  const int rank = data.rank();
  const int64_t axis = Axis(IntAttr(*c.node, "axis", 0), rank);
  if (axis < 0 || axis >= rank || indices.rank() != rank) return c.Error("bad axis or ranks");
  for (int d = 0; d < rank; ++d) {
    if (d != axis && indices.shape()[d] != data.shape()[d])
      return c.Error("indices that differ from the data off the axis are not supported");
  }
  const int64_t n = data.shape()[axis];
  const Moved m = MoveAxis(rank, axis, /*last=*/true);
  Tensor idx = ops::Transpose(indices, m.perm);  // [..., k]
  Tensor zero = ops::Scalar(c.g, 0, idx.dtype());
  idx = ops::Select(ops::Less(idx, zero), ops::Add(idx, ops::Scalar(c.g, n, idx.dtype())), idx);
  Tensor hot = ops::Greater(ops::OneHot(idx, n, DType::kI32), ops::Scalar(c.g, 0, DType::kI32));
  Tensor rows = ops::Transpose(data, m.perm);  // [..., n]
  std::vector<int64_t> dims = rows.shape().dims();
  dims.insert(dims.end() - 1, 1);  // [..., 1, n]
  rows = ops::Reshape(rows, Shape(dims));
  Tensor picked = ops::ReduceSum(ops::Select(hot, rows, ops::ZerosLike(rows)), {-1});
  return Outputs{ops::Transpose(picked, m.back)};
}

// CumSum along `axis`: y[j] = the sum of x[i] over the i a mask[i, j] keeps (i <= j; i < j when
// exclusive; the other way when reverse), selected, not multiplied.
absl::StatusOr<Outputs> CumSum(Context& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
  KILN_ASSIGN_OR_RETURN(TensorData axis_value, c.ConstantInput(1));
  const int rank = x.rank();
  const int64_t axis = Axis(static_cast<int64_t>(axis_value.at(0)), rank);
  if (axis < 0 || axis >= rank) return c.Error("bad axis");
  const bool exclusive = IntAttr(*c.node, "exclusive", 0) != 0;
  const bool reverse = IntAttr(*c.node, "reverse", 0) != 0;
  const int64_t n = x.shape()[axis];
  TensorData mask = TensorData::FromFunction(DType::kBool, Shape({n, n}), [&](int64_t e) {
    const int64_t i = e / n, j = e % n;
    const bool keep = reverse ? (exclusive ? i > j : i >= j) : (exclusive ? i < j : i <= j);
    return keep ? 1.0 : 0.0;
  });
  const Moved m = MoveAxis(rank, axis, /*last=*/true);
  Tensor last = ops::Transpose(x, m.perm);  // [..., n]
  std::vector<int64_t> dims = last.shape().dims();
  dims.push_back(1);  // [..., n(i), 1]
  Tensor column = ops::Reshape(last, Shape(dims));
  Tensor kept = ops::Select(ops::Const(c.g, mask), column, ops::ZerosLike(column));  // [..., n, n]
  return Outputs{ops::Transpose(ops::ReduceSum(kept, {-2}), m.back)};
}

// NegativeLogLikelihoodLoss of log-probabilities `x` [N, C, d...] and class `target` [N, d...]
// (optionally weighted per class): -x[n, target[n, d...], d...] * weight[target], with
// ignore_index's elements counting 0 and weighing 0; reduction none, sum or mean (weighted).
absl::StatusOr<Outputs> NegativeLogLikelihood(Context& c, Tensor x, Tensor target,
                                              std::optional<Tensor> weight) {
  if (x.rank() < 2) return c.Error("needs [N, C, ...] scores");
  const int64_t classes = x.shape()[1];
  // Classes last: [N, d..., C].
  Tensor last = ops::Transpose(x, MoveAxis(x.rank(), 1, /*last=*/true).perm);
  const onnx::AttributeProto* ignore = Attr(*c.node, "ignore_index");
  Tensor t = target;
  Tensor valid;  // 1 where the target counts, of x's dtype
  if (ignore != nullptr) {
    Tensor ignored =
        ops::Equal(target, ops::Scalar(c.g, static_cast<double>(ignore->i()), target.dtype()));
    valid = ops::Select(ignored, ops::Scalar(c.g, 0, x.dtype()), ops::Scalar(c.g, 1, x.dtype()));
    t = ops::Select(ignored, ops::ZerosLike(target), target);  // any class: weighed 0 below
  }
  Tensor picked = ops::ReduceSum(ops::Mul(last, ops::OneHot(t, classes, x.dtype())), {-1});
  Tensor w = weight ? ops::Gather(*weight, t) : ops::OnesLike(picked);
  if (ignore != nullptr) w = ops::Mul(w, valid);
  Tensor loss = ops::Neg(ops::Mul(picked, w));
  const onnx::AttributeProto* r = Attr(*c.node, "reduction");
  const std::string reduction = r != nullptr ? r->s() : "mean";
  if (reduction == "none") return Outputs{loss};
  if (reduction == "sum") return Outputs{ops::ReduceSum(loss)};
  if (reduction == "mean") return Outputs{ops::Div(ops::ReduceSum(loss), ops::ReduceSum(w))};
  return c.Error("reduction '" + reduction + "' is not supported");
}

// ArgMax / ArgMin along `axis`: the first index of the extreme, or with select_last_index the
// last: the largest index where the element equals the extreme.
absl::StatusOr<Outputs> ArgExtreme(Context& c, bool max) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
  const int64_t axis = Axis(IntAttr(*c.node, "axis", 0), x.rank());
  if (axis < 0 || axis >= x.rank()) return c.Error("bad axis");
  const bool keep = IntAttr(*c.node, "keepdims", 1) != 0;
  std::vector<int64_t> kept = x.shape().dims();
  kept[axis] = 1;
  Tensor y;
  if (IntAttr(*c.node, "select_last_index", 0) == 0) {
    if (!max && !IsFloat(x.dtype())) return c.Error("only float inputs are supported");
    y = ops::ArgMax(max ? x : ops::Neg(x), axis);
    if (keep) y = ops::Reshape(y, Shape(kept));
  } else {
    Tensor extreme = max ? ops::ReduceMax(x, {axis}, true) : ops::ReduceMin(x, {axis}, true);
    const std::vector<int64_t> dims = x.shape().dims();
    int64_t inner = 1;
    for (int d = static_cast<int>(axis) + 1; d < x.rank(); ++d) inner *= dims[d];
    TensorData iota = TensorData::FromFunction(DType::kI64, x.shape(), [&](int64_t e) {
      return static_cast<double>((e / inner) % dims[axis]);
    });
    Tensor index = ops::Select(ops::Equal(x, extreme), ops::Const(c.g, iota),
                               ops::Scalar(c.g, -1, DType::kI64));
    y = ops::ReduceMax(index, {axis}, keep);
  }
  return Outputs{y};
}

// LayerNormalization with its Mean and InvStdDev outputs (or RMSNormalization: no mean, no
// bias), over axes [axis, rank), computed in float32 for narrower floats (stash_type 1).
absl::StatusOr<Outputs> Normalization(Context& c, bool rms) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
  KILN_ASSIGN_OR_RETURN(Tensor scale, c.Input(1));
  const int64_t axis = Axis(IntAttr(*c.node, "axis", -1), x.rank());
  if (axis < 0 || axis >= x.rank()) return c.Error("bad axis");
  if (IntAttr(*c.node, "stash_type", 1) != 1)
    return c.Error("stash_type other than 1 is not supported");
  std::vector<int64_t> axes;
  for (int64_t d = axis; d < x.rank(); ++d) axes.push_back(d);
  const DType dtype = x.dtype();
  const DType wide = dtype == DType::kF64 ? DType::kF64 : DType::kF32;
  Tensor xs = ops::Cast(x, wide);
  Tensor epsilon = ops::Scalar(c.g, FloatAttr(*c.node, "epsilon", 1e-5f), wide);
  Tensor mean = ops::ReduceMean(xs, axes, /*keep_dims=*/true);
  Tensor centered = rms ? xs : ops::Sub(xs, mean);
  Tensor inv =
      ops::Rsqrt(ops::Add(ops::ReduceMean(ops::Mul(centered, centered), axes, true), epsilon));
  Tensor y = ops::Mul(ops::Mul(centered, inv), ops::Cast(scale, wide));
  if (!rms && c.Has(2)) {
    KILN_ASSIGN_OR_RETURN(Tensor bias, c.Input(2));
    y = ops::Add(y, ops::Cast(bias, wide));
  }
  Outputs out = {ops::Cast(y, dtype)};
  if (!rms) {
    out.push_back(mean);  // in the stash type, as ONNX gives them
    out.push_back(inv);
  }
  return out;
}

// Resize (modes nearest and linear; no antialias, roi or cubic): separable, one axis at a time,
// each output position's source index (and weight, for linear) a constant from the static shapes.
absl::StatusOr<Outputs> Resize(Context& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
  auto text = [&](const std::string& name, const std::string& fallback) {
    const onnx::AttributeProto* a = Attr(*c.node, name);
    return a != nullptr ? a->s() : fallback;
  };
  const std::string mode = text("mode", "nearest");
  const std::string transform = text("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = text("nearest_mode", "round_prefer_floor");
  if (mode != "nearest" && mode != "linear") return c.Error("mode '" + mode + "' is not supported");
  if (transform != "half_pixel" && transform != "asymmetric" && transform != "align_corners" &&
      transform != "pytorch_half_pixel")
    return c.Error("coordinate_transformation_mode '" + transform + "' is not supported");
  if (IntAttr(*c.node, "antialias", 0) != 0) return c.Error("antialias is not supported");
  if (IntAttr(*c.node, "exclude_outside", 0) != 0)
    return c.Error("exclude_outside is not supported");
  if (!IntsAttr(*c.node, "axes").empty()) return c.Error("axes are not supported");
  if (mode == "linear" && !IsFloat(x.dtype())) return c.Error("linear needs floats");
  const int rank = x.rank();
  std::vector<double> scales(rank, 1);
  std::vector<int64_t> sizes = x.shape().dims();
  if (c.Has(3)) {
    KILN_ASSIGN_OR_RETURN(TensorData v, c.ConstantInput(3));
    if (v.size() != rank) return c.Error("sizes must give every axis");
    for (int d = 0; d < rank; ++d) {
      sizes[d] = static_cast<int64_t>(v.at(d));
      scales[d] = static_cast<double>(sizes[d]) / x.shape()[d];
    }
  } else if (c.Has(2)) {
    KILN_ASSIGN_OR_RETURN(TensorData v, c.ConstantInput(2));
    if (v.size() != rank) return c.Error("scales must give every axis");
    for (int d = 0; d < rank; ++d) {
      scales[d] = v.at(d);
      sizes[d] = static_cast<int64_t>(std::floor(x.shape()[d] * scales[d]));
    }
  } else {
    return c.Error("needs scales or sizes");
  }
  Tensor y = x;
  for (int d = 0; d < rank; ++d) {
    const int64_t in = x.shape()[d], out = sizes[d];
    if (out == in && scales[d] == 1) continue;
    if (out < 1 || in < 1) return c.Error("empty sizes are not supported");
    auto source = [&](int64_t i) -> double {  // the output position's coordinate in the input
      if (transform == "asymmetric") return i / scales[d];
      // The resized length as the scale gives it (before the output's floor), as ONNX does.
      const double length = in * scales[d];
      if (transform == "align_corners") return length == 1 ? 0 : i * double(in - 1) / (length - 1);
      if (transform == "pytorch_half_pixel" && out == 1) return 0;
      return (i + 0.5) / scales[d] - 0.5;
    };
    auto clamp = [in](int64_t v) { return std::clamp<int64_t>(v, 0, in - 1); };
    // The axis first, so that Gather (axis 0) picks along it.
    const Moved m = MoveAxis(rank, d, /*last=*/false);
    Tensor front = ops::Transpose(y, m.perm);
    if (mode == "nearest") {
      TensorData index = TensorData::FromFunction(DType::kI64, Shape({out}), [&](int64_t i) {
        const double s = source(i);
        double r = nearest == "floor"               ? std::floor(s)
                   : nearest == "ceil"              ? std::ceil(s)
                   : nearest == "round_prefer_ceil" ? std::floor(s + 0.5)
                                                    : std::ceil(s - 0.5);
        return static_cast<double>(clamp(static_cast<int64_t>(r)));
      });
      if (nearest != "floor" && nearest != "ceil" && nearest != "round_prefer_ceil" &&
          nearest != "round_prefer_floor")
        return c.Error("nearest_mode '" + nearest + "' is not supported");
      y = ops::Transpose(ops::Gather(front, ops::Const(c.g, index)), m.back);
      continue;
    }
    auto low = [&](int64_t i) {
      const double s = std::clamp(source(i), 0.0, double(in - 1));
      return static_cast<int64_t>(std::floor(s));
    };
    TensorData i0 = TensorData::FromFunction(DType::kI64, Shape({out}),
                                             [&](int64_t i) { return double(low(i)); });
    TensorData i1 = TensorData::FromFunction(DType::kI64, Shape({out}),
                                             [&](int64_t i) { return double(clamp(low(i) + 1)); });
    std::vector<int64_t> wdims(rank, 1);
    wdims[0] = out;
    TensorData w = TensorData::FromFunction(x.dtype(), Shape(wdims), [&](int64_t i) {
      return std::clamp(source(i), 0.0, double(in - 1)) - low(i);
    });
    Tensor a = ops::Gather(front, ops::Const(c.g, i0)), b = ops::Gather(front, ops::Const(c.g, i1));
    Tensor wt = ops::Const(c.g, w);
    y = ops::Transpose(ops::Add(a, ops::Mul(ops::Sub(b, a), wt)), m.back);
  }
  return Outputs{y};
}

// The converters, one per ONNX op type (default domain).
const std::map<std::string, Converter>& Converters() {
  static const auto* table = new std::map<std::string, Converter>{
      {"Identity", Unary(ops::Identity)},
      {"Relu", Unary(ops::Relu)},
      {"Sigmoid", Unary(ops::Sigmoid)},
      {"Tanh", Unary(ops::Tanh)},
      {"Exp", Unary(ops::Exp)},
      {"Log", Unary(ops::Log)},
      {"Neg", Unary(ops::Neg)},
      {"Sqrt", Unary(ops::Sqrt)},
      {"Abs", Unary(ops::Abs)},
      {"Erf", Unary(ops::Erf)},
      {"Add", Binary(ops::Add)},
      {"Sub", Binary(ops::Sub)},
      {"Mul", Binary(ops::Mul)},
      {"Div", Binary(ops::Div)},
      {"Pow", Binary(ops::Pow)},
      {"Max", Binary(ops::Maximum)},
      {"Min", Binary(ops::Minimum)},
      {"MatMul",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor a, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor b, c.Input(1));
         if (a.rank() == 2 && b.rank() == 2) return Outputs{ops::MatMul(a, b)};
         if (a.rank() >= 3 && b.rank() == 2) {  // [..., k] x [k, n]: one matmul of the rows
           std::vector<int64_t> rows = a.shape().dims();
           const int64_t k = rows.back();
           rows.back() = b.shape()[1];
           Tensor flat = ops::Reshape(a, Shape({a.shape().NumElements() / k, k}));
           return Outputs{ops::Reshape(ops::MatMul(flat, b), Shape(rows))};
         }
         if (a.rank() == b.rank() && a.rank() >= 3) return Outputs{ops::BatchMatMul(a, b)};
         return c.Error(absl::StrCat("ranks ", a.rank(), " and ", b.rank(), " are not supported"));
       }},
      {"Gemm",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor a, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor b, c.Input(1));
         const float alpha = FloatAttr(*c.node, "alpha", 1), beta = FloatAttr(*c.node, "beta", 1);
         Tensor y = ops::MatMul(a, b, IntAttr(*c.node, "transA", 0) != 0,
                                IntAttr(*c.node, "transB", 0) != 0);
         if (alpha != 1) y = ops::Mul(y, ops::Scalar(c.g, alpha, y.dtype()));
         if (c.Has(2)) {
           KILN_ASSIGN_OR_RETURN(Tensor bias, c.Input(2));
           if (beta != 1) bias = ops::Mul(bias, ops::Scalar(c.g, beta, bias.dtype()));
           y = ops::Add(y, bias);
         }
         return Outputs{y};
       }},
      {"Softmax",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         return Outputs{ops::Softmax(x, Axis(IntAttr(*c.node, "axis", -1), x.rank()))};
       }},
      {"LogSoftmax",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         return Outputs{ops::LogSoftmax(x, Axis(IntAttr(*c.node, "axis", -1), x.rank()))};
       }},
      {"Flatten",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         const int64_t axis = Axis(IntAttr(*c.node, "axis", 1), x.rank());
         int64_t outer = 1;
         for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
         return Outputs{ops::Reshape(
             x, Shape({outer, x.shape().NumElements() / std::max<int64_t>(outer, 1)}))};
       }},
      {"Reshape",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(TensorData shape, c.ConstantInput(1));
         if (IntAttr(*c.node, "allowzero", 0) != 0) return c.Error("allowzero=1 is not supported");
         std::vector<int64_t> dims;
         int64_t known = 1, infer = -1;
         for (int64_t i = 0; i < shape.size(); ++i) {
           int64_t d = static_cast<int64_t>(shape.at(i));
           if (d == 0 && i < x.rank()) d = x.shape()[i];  // 0: the input's extent
           if (d == -1) {
             if (infer >= 0) return c.Error("more than one -1 in the shape");
             infer = i;
           } else {
             known *= d;
           }
           dims.push_back(d);
         }
         if (infer >= 0) dims[infer] = known == 0 ? 0 : x.shape().NumElements() / known;
         return Outputs{ops::Reshape(x, Shape(dims))};
       }},
      {"Cast",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         absl::StatusOr<DType> to = FromOnnx(static_cast<int32_t>(IntAttr(*c.node, "to", 0)));
         if (!to.ok()) return c.Error(std::string(to.status().message()));
         return Outputs{ops::Cast(x, *to)};
       }},
      {"Concat",
       [](Context& c) -> absl::StatusOr<Outputs> {
         std::vector<Tensor> xs;
         for (int i = 0; i < c.node->input_size(); ++i) {
           KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(i));
           xs.push_back(x);
         }
         if (xs.empty()) return c.Error("no inputs");
         return Outputs{ops::Concat(xs, Axis(IntAttr(*c.node, "axis", 0), xs[0].rank()))};
       }},
      {"Unsqueeze",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.Axes("axes", 1));
         const int rank = x.rank() + static_cast<int>(axes.size());
         std::vector<bool> inserted(rank, false);
         for (int64_t a : axes) {
           a = Axis(a, rank);
           if (a < 0 || a >= rank || inserted[a]) return c.Error("bad axes");
           inserted[a] = true;
         }
         std::vector<int64_t> dims;
         for (int d = 0, from = 0; d < rank; ++d)
           dims.push_back(inserted[d] ? 1 : x.shape()[from++]);
         return Outputs{ops::Reshape(x, Shape(dims))};
       }},
      {"Squeeze",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.Axes("axes", 1));
         std::vector<bool> dropped(x.rank(), axes.empty());
         for (int64_t a : axes) {
           a = Axis(a, x.rank());
           if (a < 0 || a >= x.rank() || x.shape()[a] != 1) return c.Error("bad axes");
           dropped[a] = true;
         }
         std::vector<int64_t> dims;
         for (int d = 0; d < x.rank(); ++d) {
           if (!(dropped[d] && x.shape()[d] == 1)) dims.push_back(x.shape()[d]);
         }
         return Outputs{ops::Reshape(x, Shape(dims))};
       }},
      {"Less", Binary(ops::Less)},
      {"Greater", Binary(ops::Greater)},
      {"Equal", Binary(ops::Equal)},
      {"And", Binary(ops::LogicalAnd)},
      {"Not", Unary(ops::LogicalNot)},
      {"Sin", Unary(ops::Sin)},
      {"Cos", Unary(ops::Cos)},
      {"Floor", Unary(ops::Floor)},
      {"Reciprocal", Unary(ops::Reciprocal)},
      {"Sign", Unary(ops::Sign)},
      {"Where",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor cond, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor a, c.Input(1));
         KILN_ASSIGN_OR_RETURN(Tensor b, c.Input(2));
         return Outputs{ops::Select(cond, a, b)};
       }},
      {"Clip",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor y, c.Input(0));
         if (c.Has(1)) {
           KILN_ASSIGN_OR_RETURN(Tensor low, c.Input(1));
           y = ops::Maximum(y, low);
         }
         if (c.Has(2)) {
           KILN_ASSIGN_OR_RETURN(Tensor high, c.Input(2));
           y = ops::Minimum(y, high);
         }
         return Outputs{y};
       }},
      {"ArgMax", [](Context& c) { return ArgExtreme(c, /*max=*/true); }},
      {"Gather",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor params, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor indices, c.Input(1));
         if (Axis(IntAttr(*c.node, "axis", 0), params.rank()) != 0)
           return c.Error("only axis 0 is supported");
         // Negative indices count from the end.
         Tensor n = ops::Scalar(c.g, static_cast<double>(params.shape()[0]), indices.dtype());
         Tensor zero = ops::Scalar(c.g, 0, indices.dtype());
         indices = ops::Select(ops::Less(indices, zero), ops::Add(indices, n), indices);
         return Outputs{ops::Gather(params, indices)};
       }},
      {"Slice",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(TensorData starts, c.ConstantInput(1));
         KILN_ASSIGN_OR_RETURN(TensorData ends, c.ConstantInput(2));
         std::vector<int64_t> axes;
         if (c.Has(3)) {
           KILN_ASSIGN_OR_RETURN(TensorData a, c.ConstantInput(3));
           axes = Ints(a);
         } else {
           for (int64_t i = 0; i < starts.size(); ++i) axes.push_back(i);
         }
         if (c.Has(4)) {
           KILN_ASSIGN_OR_RETURN(TensorData steps, c.ConstantInput(4));
           for (int64_t st : Ints(steps)) {
             if (st != 1) return c.Error("steps other than 1 are not supported");
           }
         }
         std::vector<int64_t> begin(x.rank(), 0), size = x.shape().dims();
         for (size_t i = 0; i < axes.size(); ++i) {
           const int64_t a = Axis(axes[i], x.rank());
           if (a < 0 || a >= x.rank()) return c.Error("bad axes");
           const int64_t n = x.shape()[a];
           auto clamp = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
           const int64_t b = clamp(static_cast<int64_t>(starts.at(i)));
           const int64_t e = clamp(static_cast<int64_t>(ends.at(i)));
           begin[a] = b;
           size[a] = std::max<int64_t>(e - b, 0);
         }
         return Outputs{ops::Slice(x, begin, size)};
       }},
      {"Expand",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(TensorData shape, c.ConstantInput(1));
         // NumPy broadcasting of the input against the shape.
         std::vector<int64_t> want = Ints(shape), dims = x.shape().dims();
         const size_t rank = std::max(want.size(), dims.size());
         want.insert(want.begin(), rank - want.size(), 1);
         dims.insert(dims.begin(), rank - dims.size(), 1);
         for (size_t d = 0; d < rank; ++d) want[d] = std::max(want[d], dims[d]);
         return Outputs{ops::BroadcastTo(ops::Reshape(x, Shape(dims)), Shape(want))};
       }},
      {"Shape",
       [](Context& c) -> absl::StatusOr<Outputs> {
         // Static shapes: the shape is a constant (and usable as one, e.g. by a Reshape).
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         const int rank = x.rank();
         auto bound = [rank](int64_t v) {
           return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank);
         };
         const int64_t start = bound(IntAttr(*c.node, "start", 0));
         const int64_t end = bound(IntAttr(*c.node, "end", rank));
         std::vector<double> dims;
         for (int64_t d = start; d < end; ++d) dims.push_back(static_cast<double>(x.shape()[d]));
         const int64_t n = static_cast<int64_t>(dims.size());
         TensorData value(Literal(DType::kI64, Shape({n}), dims));
         return ConstantOutput(c, std::move(value));
       }},
      {"Size",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         TensorData value(
             Literal::Scalar(DType::kI64, static_cast<double>(x.shape().NumElements())));
         return ConstantOutput(c, std::move(value));
       }},
      {"CastLike",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor like, c.Input(1));
         return Outputs{ops::Cast(x, like.dtype())};
       }},
      {"ConstantOfShape",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(TensorData shape, c.ConstantInput(0));
         TensorData value(Literal::Scalar(DType::kF32, 0));
         if (const onnx::AttributeProto* a = Attr(*c.node, "value")) {
           KILN_ASSIGN_OR_RETURN(value, Value(a->t(), c.dir));
         }
         if (value.size() != 1) return c.Error("'value' must hold one element");
         const DType dtype = value.dtype();
         const double v = value.at(0);
         TensorData filled =
             TensorData::FromFunction(dtype, Shape(Ints(shape)), [v](int64_t) { return v; });
         return ConstantOutput(c, std::move(filled));
       }},
      {"ArgMin", [](Context& c) { return ArgExtreme(c, /*max=*/false); }},
      {"Dropout",
       [](Context& c) -> absl::StatusOr<Outputs> {
         // Inference: the identity. Training mode (a constant true input 2) or the mask output
         // are not supported.
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         if (c.node->output_size() > 1) return c.Error("the mask output is not supported");
         if (c.Has(2)) {
           KILN_ASSIGN_OR_RETURN(TensorData training, c.ConstantInput(2));
           if (training.size() != 1 || training.at(0) != 0)
             return c.Error("training_mode is not supported");
         }
         return Outputs{ops::Identity(x)};
       }},
      {"Split",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         const int64_t axis = Axis(IntAttr(*c.node, "axis", 0), x.rank());
         std::vector<int64_t> sizes;
         if (c.Has(1)) {
           KILN_ASSIGN_OR_RETURN(TensorData split, c.ConstantInput(1));
           sizes = Ints(split);
         } else {
           const int64_t n = IntAttr(*c.node, "num_outputs", c.node->output_size());
           const int64_t extent = x.shape()[axis], piece = (extent + n - 1) / n;
           for (int64_t i = 0, left = extent; i < n; ++i, left -= piece)
             sizes.push_back(std::min(piece, left));
         }
         return Outputs(ops::Split(x, sizes, axis));
       }},
      {"LayerNormalization", [](Context& c) { return Normalization(c, /*rms=*/false); }},
      {"RMSNormalization", [](Context& c) { return Normalization(c, /*rms=*/true); }},
      {"Range",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(TensorData start, c.ConstantInput(0));
         KILN_ASSIGN_OR_RETURN(TensorData limit, c.ConstantInput(1));
         KILN_ASSIGN_OR_RETURN(TensorData delta, c.ConstantInput(2));
         const double a = start.at(0), b = limit.at(0), d = delta.at(0);
         if (d == 0) return c.Error("delta is 0");
         const int64_t n = std::max<int64_t>(static_cast<int64_t>(std::ceil((b - a) / d)), 0);
         TensorData value = TensorData::FromFunction(start.dtype(), Shape({n}),
                                                     [a, d](int64_t i) { return a + d * i; });
         return ConstantOutput(c, std::move(value));
       }},
      {"Conv",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor w, c.Input(1));
         const bool one_d = x.rank() == 3 && w.rank() == 3;  // as 2-D over [L, 1]
         if (one_d) {
           x = AsImage(x);
           w = AsImage(w);
         }
         if (x.rank() != 4 || w.rank() != 4)
           return c.Error("only 1-D and 2-D convolutions (NCHW) are supported");
         if (IntAttr(*c.node, "group", 1) != 1) return c.Error("group > 1 is not supported");
         ops::Conv2DOptions options;
         if (!Window(c, "strides", one_d).empty()) options.strides = Window(c, "strides", one_d);
         if (!Window(c, "dilations", one_d).empty())
           options.dilations = Window(c, "dilations", one_d);
         const std::vector<int64_t> kernel = Window(c, "kernel_shape", one_d);
         if (!kernel.empty() && (kernel[0] != w.shape()[2] || kernel[1] != w.shape()[3]))
           return c.Error("kernel_shape differs from the weights'");
         KILN_RETURN_IF_ERROR(Padding(c, one_d, &options.padding, &options.explicit_padding));
         if (options.padding != "EXPLICIT") options.explicit_padding.clear();
         Tensor y = ops::Conv2D(ToNhwc(x), ops::Transpose(w, {2, 3, 1, 0}), options);
         if (c.Has(2)) {
           KILN_ASSIGN_OR_RETURN(Tensor bias, c.Input(2));
           y = ops::Add(y, bias);  // [n,h,w,m] + [m]
         }
         y = ToNchw(y);
         return Outputs{one_d ? Squeezed(y) : y};
       }},
      {"MaxPool",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         if (c.node->output_size() > 1) return c.Error("the Indices output is not supported");
         if (IntAttr(*c.node, "storage_order", 0) != 0)
           return c.Error("storage_order=1 is not supported");
         ops::Pool2DOptions options;
         KILN_ASSIGN_OR_RETURN(Tensor nhwc, PoolInput(c, x, -INFINITY, &options));
         Tensor y = ToNchw(ops::MaxPool2D(nhwc, options));
         return Outputs{x.rank() == 3 ? Squeezed(y) : y};
       }},
      {"AveragePool",
       [](Context& c) -> absl::StatusOr<Outputs> {
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         const std::vector<int64_t> pads = IntsAttr(*c.node, "pads");
         const bool padded =
             std::any_of(pads.begin(), pads.end(), [](int64_t v) { return v != 0; });
         // Kiln's SAME average counts only the window's real elements, as count_include_pad=0.
         const onnx::AttributeProto* a = Attr(*c.node, "auto_pad");
         const bool same = a != nullptr && a->s() == "SAME_UPPER";
         const bool include = IntAttr(*c.node, "count_include_pad", 0) != 0;
         if (padded && !include)
           return c.Error("explicit pads with count_include_pad=0 are not supported");
         if (same && include)
           return c.Error("SAME_UPPER with count_include_pad=1 is not supported");
         ops::Pool2DOptions options;
         KILN_ASSIGN_OR_RETURN(Tensor nhwc, PoolInput(c, x, 0, &options));
         Tensor y = ToNchw(ops::AvgPool2D(nhwc, options));
         return Outputs{x.rank() == 3 ? Squeezed(y) : y};
       }},
      {"GlobalAveragePool", GlobalPool(ops::ReduceMean)},
      {"GlobalMaxPool", GlobalPool(ops::ReduceMax)},
      {"BatchNormalization",
       [](Context& c) -> absl::StatusOr<Outputs> {
         // Inference: y = (x - mean) / sqrt(var + epsilon) * scale + B, per
         // channel (axis 1).
         if (IntAttr(*c.node, "training_mode", 0) != 0 || c.node->output_size() > 1)
           return c.Error("training mode is not supported");
         KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
         std::vector<Tensor> p;
         for (int i = 1; i <= 4; ++i) {
           KILN_ASSIGN_OR_RETURN(Tensor t, c.Input(i));
           std::vector<int64_t> dims(x.rank() - 1, 1);
           dims[0] = t.shape().NumElements();
           p.push_back(ops::Reshape(t, Shape(dims)));  // [C, 1, ...]: broadcasts along axis 1
         }
         Tensor epsilon = ops::Scalar(c.g, FloatAttr(*c.node, "epsilon", 1e-5f), x.dtype());
         Tensor y = ops::Mul(ops::Sub(x, p[2]), ops::Rsqrt(ops::Add(p[3], epsilon)));
         return Outputs{ops::Add(ops::Mul(y, p[0]), p[1])};
       }},
      {"Mod",
       [](Context& c) -> absl::StatusOr<Outputs> {
         // fmod=1: C's fmod (the dividend's sign); 0: Python's (the divisor's
         // sign). Integers go through float64, exact while |values| < 2^53.
         KILN_ASSIGN_OR_RETURN(Tensor a, c.Input(0));
         KILN_ASSIGN_OR_RETURN(Tensor b, c.Input(1));
         const DType dtype = a.dtype();
         const bool fmod = IntAttr(*c.node, "fmod", 0) != 0;
         if (!IsFloat(dtype) && fmod) return c.Error("fmod=1 on integers is not supported");
         if (IsFloat(dtype) && !fmod) return c.Error("fmod=0 on floats is not supported");
         Tensor x = ops::Cast(a, DType::kF64), y = ops::Cast(b, DType::kF64);
         Tensor q = ops::Div(x, y);
         // trunc(q) for fmod, floor(q) otherwise.
         Tensor whole = fmod ? ops::Mul(ops::Sign(q), ops::Floor(ops::Abs(q))) : ops::Floor(q);
         return Outputs{ops::Cast(ops::Sub(x, ops::Mul(whole, y)), dtype)};
       }},
      {"ReduceSumSquare", Reduce([](Tensor x, std::vector<int64_t> axes, bool keep, SourceLoc loc) {
         return ops::ReduceSum(ops::Mul(x, x), axes, keep, loc);
       })},
      {"ReduceL1", Reduce([](Tensor x, std::vector<int64_t> axes, bool keep, SourceLoc loc) {
         return ops::ReduceSum(ops::Abs(x), axes, keep, loc);
       })},
      {"ReduceL2", Reduce([](Tensor x, std::vector<int64_t> axes, bool keep, SourceLoc loc) {
         return ops::Sqrt(ops::ReduceSum(ops::Mul(x, x), axes, keep, loc));
       })},
      {"ReduceLogSumExp", Reduce([](Tensor x, std::vector<int64_t> axes, bool keep, SourceLoc loc) {
         // Shifted by the maximum, so that exp does not overflow.
         Tensor m = ops::ReduceMax(x, axes, /*keep_dims=*/true, loc);
         Tensor y =
             ops::Add(ops::Log(ops::ReduceSum(ops::Exp(ops::Sub(x, m)), axes, true, loc)), m);
         return keep ? y : ops::ReduceSum(y, axes, false, loc);  // drops the kept axes (extent 1)
       })},
      {"Pad",
       [](Context& c) -> absl::
                          StatusOr<Outputs> {
                            KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
                            const onnx::AttributeProto* mode = Attr(*c.node, "mode");
                            if (mode != nullptr && mode->s() != "constant")
                              return c.Error("mode '" + mode->s() + "' is not supported");
                            KILN_ASSIGN_OR_RETURN(TensorData pads, c.ConstantInput(1));
                            double value = 0;
                            if (c.Has(2)) {
                              KILN_ASSIGN_OR_RETURN(TensorData v, c.ConstantInput(2));
                              if (v.size() != 1)
                                return c.Error("constant_value must be one element");
                              value = v.at(0);
                            }
                            std::vector<int64_t> axes;
                            if (c.Has(3)) {
                              KILN_ASSIGN_OR_RETURN(TensorData a, c.ConstantInput(3));
                              axes = Ints(a);
                            } else {
                              for (int d = 0; d < x.rank(); ++d) axes.push_back(d);
                            }
                            const std::vector<int64_t> p = Ints(pads);
                            if (p.size() != 2 * axes.size())
                              return c.Error("pads do not match the axes");
                            std::vector<int64_t> paddings(2 * x.rank(), 0);
                            for (size_t i = 0; i < axes.size(); ++i) {
                              const int64_t a = Axis(axes[i], x.rank());
                              if (a < 0 || a >= x.rank()) return c.Error("bad axes");
                              if (p[i] < 0 || p[i + axes.size()] < 0)
                                return c.Error("negative pads are not supported");
                              paddings[2 * a] = p[i];
                              paddings[2 * a + 1] = p[i + axes.size()];
                            }
                            return Outputs{ops::Pad(x, paddings, value)};
                          }},
      {"Trilu",
       [](Context& c) -> absl::
                          StatusOr<Outputs> {
                            // The triangle kept, as a constant mask over the last two axes.
                            KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
                            if (x.rank() < 2) return c.Error("needs 2 dimensions");
                            int64_t k = 0;
                            if (c.Has(1)) {
                              KILN_ASSIGN_OR_RETURN(TensorData kk, c.ConstantInput(1));
                              k = static_cast<int64_t>(kk.at(0));
                            }
                            const bool upper = IntAttr(*c.node, "upper", 1) != 0;
                            const int64_t rows = x.shape()[x.rank() - 2],
                                          cols = x.shape()[x.rank() - 1];
                            TensorData mask = TensorData::FromFunction(
                                DType::kBool, Shape({rows, cols}), [&](int64_t e) {
                                  const int64_t i = e / cols, j = e % cols;
                                  return (upper ? j - i >= k : j - i <= k) ? 1.0 : 0.0;
                                });
                            return Outputs{
                                ops::Select(ops::Const(c.g, mask), x, ops::ZerosLike(x))};
                          }},
      {"NegativeLogLikelihoodLoss",
       [](Context& c) -> absl::
                          StatusOr<Outputs> {
                            KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
                            KILN_ASSIGN_OR_RETURN(Tensor target, c.Input(1));
                            std::optional<Tensor> weight;
                            if (c.Has(2)) {
                              KILN_ASSIGN_OR_RETURN(Tensor w, c.Input(2));
                              weight = w;
                            }
                            return NegativeLogLikelihood(c, x, target, weight);
                          }},
      {"SoftmaxCrossEntropyLoss",
       [](Context& c) -> absl::
                          StatusOr<Outputs> {
                            KILN_ASSIGN_OR_RETURN(Tensor scores, c.Input(0));
                            KILN_ASSIGN_OR_RETURN(Tensor target, c.Input(1));
                            std::optional<Tensor> weight;
                            if (c.Has(2)) {
                              KILN_ASSIGN_OR_RETURN(Tensor w, c.Input(2));
                              weight = w;
                            }
                            Tensor log_prob = ops::LogSoftmax(scores, 1);
                            KILN_ASSIGN_OR_RETURN(
                                Outputs loss, NegativeLogLikelihood(c, log_prob, target, weight));
                            loss.push_back(log_prob);  // the optional second output
                            return loss;
                          }},
      {"GatherElements", GatherElements},
      {"CumSum", CumSum},
      {"Resize", Resize},
      {"ReduceSum", Reduce(ops::ReduceSum)},
      {"ReduceMean", Reduce(ops::ReduceMean)},
      {"ReduceMax", Reduce(ops::ReduceMax)},
      {"ReduceMin", Reduce(ops::ReduceMin)},
      {"ReduceProd", Reduce(ops::ReduceProd)},
      {"Transpose",
       [](Context& c) -> absl::
                          StatusOr<Outputs> {
                            KILN_ASSIGN_OR_RETURN(Tensor x, c.Input(0));
                            std::vector<int64_t> perm;
                            if (const onnx::AttributeProto* a = Attr(*c.node, "perm")) {
                              perm.assign(a->ints().begin(), a->ints().end());
                            } else {
                              for (int d = x.rank() - 1; d >= 0; --d) perm.push_back(d);
                            }
                            return Outputs{ops::Transpose(x, perm)};
                          }},
  };
  return *table;
}

// A node whose inputs are all constants (shape arithmetic: Shape → Gather → Concat → Reshape, as
// exporters write it) is computed now, on the interpreter over a scratch graph of the same
// converter, so that its outputs are constants too (what a Reshape's or a Slice's operands must
// be). False when it is not constant or cannot be folded: then it is converted as usual.
bool Fold(Context& c, const Converter& convert) {
  const onnx::NodeProto& node = *c.node;
  if (node.input_size() == 0) return false;
  Graph scratch;
  Context sub{scratch, c.dir};
  sub.node = c.node;
  sub.opset = c.opset;
  for (const std::string& name : node.input()) {
    if (name.empty()) continue;
    const TensorData* value = nullptr;
    auto constant = c.constants.find(name);
    if (constant != c.constants.end()) value = &constant->second;
    TensorData init;
    auto i = c.initializers.find(name);
    if (value == nullptr && i != c.initializers.end() &&
        i->second->data_type() == onnx::TensorProto::INT64) {
      absl::StatusOr<TensorData> v = Value(*i->second, c.dir);
      if (!v.ok()) return false;
      init = *std::move(v);
      value = &init;
    }
    if (value == nullptr || value->size() > 4096) return false;  // not constant, or not small
    sub.constants[name] = *value;
    sub.values[name] = ops::Const(scratch, *value);
  }
  absl::StatusOr<Outputs> outputs = convert(sub);
  if (!outputs.ok() || !scratch.ok() || static_cast<int>(outputs->size()) < node.output_size())
    return false;
  absl::StatusOr<Interpreter> interpreter = Interpreter::Create(scratch);
  if (!interpreter.ok()) return false;
  absl::StatusOr<std::vector<Literal>> values = interpreter->Run(
      {}, std::vector<Tensor>(outputs->begin(), outputs->begin() + node.output_size()));
  if (!values.ok()) return false;
  for (int o = 0; o < node.output_size(); ++o) {
    TensorData value((*values)[o]);
    c.constants[node.output(o)] = value;
    c.values[node.output(o)] = ops::Const(c.g, std::move(value), KilnName(node.output(o)));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> OnnxGraphInputs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto model;
  if (!in || !model.ParseFromIstream(&in))
    return absl::DataLossError(absl::StrCat("cannot read ONNX model '", path, "'"));
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  std::vector<std::string> names;
  for (const auto& input : model.graph().input()) {
    if (!initializers.count(input.name())) names.push_back(input.name());
  }
  return names;
}

absl::StatusOr<TensorData> ReadOnnxTensor(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ONNX tensor '", path, "'"));
  onnx::TensorProto t;
  if (!t.ParseFromIstream(&in))
    return absl::DataLossError(absl::StrCat(path, ": not an ONNX tensor (malformed protobuf)"));
  return Value(t, std::filesystem::path(path).parent_path());
}

std::vector<std::string> OnnxImportedOps() {
  std::vector<std::string> names;
  for (const auto& [name, converter] : Converters()) names.push_back(name);
  names.push_back("Constant");
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::unique_ptr<Graph>> ImportOnnx(const std::string& path,
                                                  const OnnxImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ONNX model '", path, "'"));
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in))
    return absl::DataLossError(absl::StrCat(path, ": not an ONNX model (malformed protobuf)"));
  int64_t opset = 0;
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  }
  if (opset == 0) {
    std::vector<std::string> domains;
    for (const auto& o : model.opset_import()) domains.push_back("'" + o.domain() + "'");
    return absl::UnimplementedError(absl::StrCat(path, ": no ai.onnx opset (domains ",
                                                 absl::StrJoin(domains, ", "),
                                                 "): only the default domain is supported"));
  }
  if (opset < kOldestOpset) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": opset ", opset, "; Kiln imports opset ", kOldestOpset,
                     " and newer (convert it with onnx.version_converter.convert_version)"));
  }
  auto g = std::make_unique<Graph>();
  Context c{*g, std::filesystem::path(path).parent_path()};
  c.opset = opset;
  const onnx::GraphProto& graph = model.graph();
  for (const auto& init : graph.initializer()) c.initializers[init.name()] = &init;
  for (const auto& input : graph.input()) {
    if (c.initializers.count(input.name())) continue;  // older exporters list weights as inputs
    const std::string where = absl::StrCat(path, ": input '", input.name(), "'");
    auto bound = options.bind.find(input.name());
    if (bound != options.bind.end()) {
      c.constants[input.name()] = bound->second;
      c.values[input.name()] = ops::Const(*g, bound->second, KilnName(input.name()));
      continue;
    }
    c.graph_inputs.insert(input.name());
    if (!input.type().has_tensor_type())
      return absl::UnimplementedError(where + " is not a tensor");
    const auto& tensor = input.type().tensor_type();
    absl::StatusOr<DType> dtype = FromOnnx(tensor.elem_type());
    if (!dtype.ok())
      return absl::UnimplementedError(absl::StrCat(where, ": ", dtype.status().message()));
    std::vector<int64_t> dims;
    for (int d = 0; d < tensor.shape().dim_size(); ++d) {
      const auto& dim = tensor.shape().dim(d);
      if (dim.has_dim_value()) {
        dims.push_back(dim.dim_value());
      } else if (d == 0 && options.batch > 0) {
        dims.push_back(options.batch);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": dimension ", d, " is symbolic ('", dim.dim_param(), "')",
            d == 0 ? "; give the batch size (kilnc import --batch N)" : ": not supported"));
      }
    }
    c.values[input.name()] = ops::Placeholder(*g, KilnName(input.name()), *dtype, Shape(dims));
  }
  const std::string file = std::filesystem::path(path).filename().string();
  for (const onnx::NodeProto& node : graph.node()) {
    c.node = &node;
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      return c.Error(absl::StrCat("domain '", node.domain(), "' is not supported"));
    // Kiln's errors name the node's source: here, the ONNX node.
    g->set_source_override(absl::StrCat(file, ": ", node.op_type(), " '", node.name(), "'"));
    auto converter = Converters().find(node.op_type());
    if (converter == Converters().end() && node.op_type() != "Constant")
      return c.Error("not supported");
    auto allowed = Attributes().find(node.op_type());
    for (const auto& a : node.attribute()) {
      if (allowed == Attributes().end() || !allowed->second.count(a.name()))
        return c.Error(absl::StrCat("attribute '", a.name(), "' is not supported"));
    }
    if (node.op_type() == "Constant") {
      TensorData v;
      if (const onnx::AttributeProto* a = Attr(node, "value")) {
        KILN_ASSIGN_OR_RETURN(v, Value(a->t(), c.dir));
      } else if (const onnx::AttributeProto* a = Attr(node, "value_float")) {
        v = TensorData(Literal::Scalar(DType::kF32, a->f()));
      } else if (const onnx::AttributeProto* a = Attr(node, "value_int")) {
        v = TensorData(Literal::Scalar(DType::kI64, static_cast<double>(a->i())));
      } else if (const onnx::AttributeProto* a = Attr(node, "value_floats")) {
        v = TensorData(Literal(DType::kF32, Shape({a->floats_size()}),
                               std::vector<double>(a->floats().begin(), a->floats().end())));
      } else if (const onnx::AttributeProto* a = Attr(node, "value_ints")) {
        std::vector<double> ints;
        for (int64_t i : a->ints()) ints.push_back(static_cast<double>(i));
        v = TensorData(Literal(DType::kI64, Shape({a->ints_size()}), ints));
      } else {
        return c.Error("no value attribute");
      }
      c.constants[node.output(0)] = v;
      c.values[node.output(0)] = ops::Const(*g, std::move(v), KilnName(node.output(0)));
      continue;
    }
    if (Fold(c, converter->second)) continue;
    absl::StatusOr<Outputs> outputs = converter->second(c);
    if (!outputs.ok()) return outputs.status();
    if (!g->ok())
      return absl::Status(g->status().code(), absl::StrCat(c.Where(), ": ", g->status().message()));
    if (static_cast<int>(outputs->size()) < node.output_size())
      return c.Error(absl::StrCat(node.output_size(), " outputs are not supported"));
    for (int i = 0; i < node.output_size(); ++i) c.values[node.output(i)] = (*outputs)[i];
  }
  g->set_source_override("");
  for (const auto& output : graph.output()) {
    auto v = c.values.find(output.name());
    if (v == c.values.end())
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": output '", output.name(), "' is not computed"));
    g->AddOutput(KilnName(output.name()), v->second);
  }
  KILN_RETURN_IF_ERROR(g->status());
  return g;
}

}  // namespace kiln
