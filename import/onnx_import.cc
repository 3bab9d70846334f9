#include "import/onnx_import.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
      return absl::UnimplementedError(absl::StrCat(
          "ONNX element type ", onnx::TensorProto::DataType_Name(type), " has no Kiln dtype"));
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
    return Error(absl::StrCat("input ", i, " ('", node->input(i),
                              "') must be a constant: computed shapes are not supported"));
  }
  std::map<std::string, TensorData> constants;  // Constant nodes' values, by output name
};

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
      {"Constant", {"value"}},
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
      {"Transpose",
       [](Context& c) -> absl::StatusOr<Outputs> {
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

}  // namespace

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
    auto allowed = Attributes().find(node.op_type());
    for (const auto& a : node.attribute()) {
      if (allowed == Attributes().end() || !allowed->second.count(a.name()))
        return c.Error(absl::StrCat("attribute '", a.name(), "' is not supported"));
    }
    // Kiln's errors name the node's source: here, the ONNX node.
    g->set_source_override(absl::StrCat(file, ": ", node.op_type(), " '", node.name(), "'"));
    if (node.op_type() == "Constant") {
      const onnx::AttributeProto* value = Attr(node, "value");
      if (value == nullptr || !value->has_t())
        return c.Error("only a tensor 'value' attribute is supported");
      KILN_ASSIGN_OR_RETURN(TensorData v, Value(value->t(), c.dir));
      c.constants[node.output(0)] = v;
      c.values[node.output(0)] = ops::Const(*g, std::move(v), KilnName(node.output(0)));
      continue;
    }
    auto converter = Converters().find(node.op_type());
    if (converter == Converters().end()) return c.Error("not supported");
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
