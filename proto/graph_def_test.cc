#include "proto/graph_def.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/autodiff.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/random.h"
#include "testing/status_matchers.h"

namespace kiln {

// A test-only op with one attribute of every kind and two outputs: output 0 is x reshaped to
// `shape` and converted to `dtype`, output 1 the constant `tensor`.
KILN_REGISTER_OP(OpDef("ProtoTestAllAttrs")
                     .Doc("every attribute kind, two outputs")
                     .Inputs({"x"})
                     .Attr("i", AttrType::kInt)
                     .Attr("f", AttrType::kFloat)
                     .Attr("b", AttrType::kBool)
                     .Attr("s", AttrType::kString)
                     .Attr("dtype", AttrType::kDType)
                     .Attr("shape", AttrType::kShape)
                     .Attr("tensor", AttrType::kTensor)
                     .Attr("ints", AttrType::kInts)
                     .Attr("floats", AttrType::kFloats)
                     .Attr("strings", AttrType::kStrings, std::vector<std::string>{"default"})
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       const Shape& shape = c.attr<Shape>("shape");
                       if (shape.NumElements() != c.inputs[0].shape.NumElements()) {
                         return absl::InvalidArgumentError("shape must have as many elements as x");
                       }
                       return std::vector<TensorType>{{c.attr<DType>("dtype"), shape},
                                                      c.attr<TensorData>("tensor").type()};
                     })
                     .NotDifferentiable("a test op")
                     .Kernel([](KernelContext& c) {
                       c.out(0).values = c.in(0).values;
                       c.out(1).values = c.attr<TensorData>("tensor").ToLiteral().values;
                       return absl::OkStatus();
                     }));

namespace {

using absl::StatusCode;

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/graph_def_test.XXXXXX");
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(d);
  return names;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

bool SameLiteral(const Literal& a, const Literal& b) {
  if (!(a.type() == b.type()) || a.values.size() != b.values.size()) return false;
  for (size_t i = 0; i < a.values.size(); ++i) {
    if (!SameBits(a.values[i], b.values[i])) return false;
  }
  return true;
}

bool SameAttr(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (const double* da = std::get_if<double>(&a)) return SameBits(*da, std::get<double>(b));
  // TensorData compares bytes, so NaNs compare by their bits.
  return std::visit([&](const auto& va) { return va == std::get<std::decay_t<decltype(va)>>(b); },
                    a);
}

std::string RefName(const Graph& g, OutputRef ref) {
  return Tensor(const_cast<Graph*>(&g), ref).name();
}

// Checks that `b` is `a` node for node: names, ops, inputs, attributes, types, sources, outputs and
// training metadata (by name, so the node order may differ).
void RequireSameGraph(const Graph& a, const Graph& b) {
  REQUIRE_THAT(b.status(), IsOk());
  REQUIRE(a.num_nodes() == b.num_nodes());
  for (const Node& na : a.nodes()) {
    INFO("node " << na.name);
    const Node* nb = b.FindNode(na.name);
    REQUIRE(nb != nullptr);
    REQUIRE(nb->op_name() == na.op_name());
    REQUIRE(nb->source == na.source);
    REQUIRE(nb->inputs.size() == na.inputs.size());
    for (size_t i = 0; i < na.inputs.size(); ++i) {
      REQUIRE(RefName(b, nb->inputs[i]) == RefName(a, na.inputs[i]));
    }
    REQUIRE(nb->attrs.size() == na.attrs.size());
    for (const auto& [name, value] : na.attrs) {
      INFO("attribute " << name);
      REQUIRE(nb->attrs.count(name));
      REQUIRE(SameAttr(value, nb->attrs.at(name)));
    }
    REQUIRE(nb->outputs.size() == na.outputs.size());
    for (size_t i = 0; i < na.outputs.size(); ++i) REQUIRE(nb->outputs[i] == na.outputs[i]);
  }
  REQUIRE(a.outputs().size() == b.outputs().size());
  for (size_t i = 0; i < a.outputs().size(); ++i) {
    REQUIRE(a.outputs()[i].first == b.outputs()[i].first);
    REQUIRE(RefName(a, a.outputs()[i].second) == RefName(b, b.outputs()[i].second));
  }
  const TrainingInfo& ta = a.training();
  const TrainingInfo& tb = b.training();
  REQUIRE(ta.loss.valid() == tb.loss.valid());
  if (ta.loss.valid()) REQUIRE(ta.loss.name() == tb.loss.name());
  REQUIRE(ta.parameters.size() == tb.parameters.size());
  for (size_t i = 0; i < ta.parameters.size(); ++i) {
    REQUIRE(a.node(ta.parameters[i]).name == b.node(tb.parameters[i]).name);
  }
  REQUIRE(ta.slots.size() == tb.slots.size());
  for (size_t i = 0; i < ta.slots.size(); ++i) {
    REQUIRE(a.node(ta.slots[i].variable).name == b.node(tb.slots[i].variable).name);
    REQUIRE(ta.slots[i].name == tb.slots[i].name);
    REQUIRE(a.node(ta.slots[i].slot_variable).name == b.node(tb.slots[i].slot_variable).name);
  }
  REQUIRE(ta.updates.size() == tb.updates.size());
  for (size_t i = 0; i < ta.updates.size(); ++i) {
    REQUIRE(a.node(ta.updates[i].first).name == b.node(tb.updates[i].first).name);
    REQUIRE(ta.updates[i].second.name() == tb.updates[i].second.name());
  }
  REQUIRE(ta.optimizer == tb.optimizer);
  REQUIRE(ta.learning_rate == tb.learning_rate);
}

// A model using many ops and every attribute kind, with outputs and momentum-SGD training metadata.
struct Model {
  Graph g;
  Tensor y, gelu, argmax, mean, pair1, loss;

  Model() {
    Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 3});
    Tensor target = ops::Placeholder(g, "target", DType::kF32, {4, 3});
    Tensor lr = ops::Placeholder(g, "lr", DType::kF32, {});
    Tensor w =
        ops::Variable(g, "dense/w", DType::kF32, {3, 3}, ops::Initializer::Uniform(-1, 1, 7));
    Tensor b =
        ops::Variable(g, "dense/b", DType::kF32, {3},
                      ops::Initializer::Value(Literal(DType::kF32, {3}, {0.5, -0.25, 0.125})));
    Tensor h;
    {
      NameScope scope(g, "dense");
      // x·w without MatMul: sum over k of x[i,k,1] * w[1,k,j].
      h = ops::ReduceSum(ops::Reshape(x, {4, 3, 1}) * ops::Reshape(w, {1, 3, 3}), {1}) + b;
      y = ops::Relu(h);
    }
    gelu = ops::Gelu(ops::Tanh(h), /*approximate_tanh=*/true);
    argmax = ops::ArgMax(h, 1, DType::kI32);
    mean = ops::ReduceMean(ops::Cast(h, DType::kF64), {0}, /*keep_dims=*/true);
    Tensor sel = ops::Select(ops::Greater(h, ops::ZerosLike(h)), h, -h);
    Tensor exact = ops::Exp(ops::Log1p(ops::Abs(sel))) - 1.0;

    // Constants of every dtype, with values at the edges of their ranges.
    ops::Const(g, Literal(DType::kF64, {3}, {0.1, -0.0, 1e-310}), "c_f64");
    ops::Const(g, Literal(DType::kF16, {2}, {65504, -0.000061035156}), "c_f16");
    ops::Const(g, Literal(DType::kBF16, {2}, {3.0e38, 1.5}), "c_bf16");
    ops::Const(g, Literal(DType::kI8, {2}, {-128, 127}), "c_i8");
    ops::Const(g, Literal(DType::kI32, {2}, {-2147483648.0, 2147483647.0}), "c_i32");
    ops::Const(g, Literal(DType::kI64, {2}, {-9007199254740992.0, 9007199254740992.0}), "c_i64");
    Tensor flags = ops::Const(g, Literal(DType::kBool, {3}, {1, 0, 1}), "c_bool");
    ops::LogicalNot(flags);

    AttrMap attrs = {
        {"i", int64_t{-42}},
        {"f", 2.5},
        {"b", true},
        {"s", std::string("text with \"quotes\"\n")},
        {"dtype", DType::kF64},
        {"shape", Shape({3, 4})},
        {"tensor", TensorData(Literal(DType::kI64, {2, 2}, {1, -2, 3, -4}))},
        {"ints", std::vector<int64_t>{1, -2, 3}},
        {"floats", std::vector<double>{0.5, -1e300, 3}},
        {"strings", std::vector<std::string>{"a", "", "c"}},
    };
    const int all =
        g.AddNode("ProtoTestAllAttrs", {exact}, attrs, SourceLoc::Current(), "all_attrs");
    pair1 = g.Output(all, 1);
    Tensor pair_sum = ops::ReduceSum(ops::Cast(pair1, DType::kF32));

    g.AddOutput("y", y);
    g.AddOutput("argmax", argmax);
    g.AddOutput("pair:1", pair1);

    g.AddOutput("pair_sum", pair_sum);

    loss = ops::ReduceMean(ops::Square(y - target));
    auto grads = AddGradients(loss, {w, b});
    REQUIRE_THAT(grads.status(), IsOk());
    TrainingInfo& t = g.training();
    t.loss = loss;
    t.optimizer = "momentum";
    t.learning_rate = "lr";
    std::vector<Tensor> params = {w, b};
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string name = g.node(params[i].node()).name;
      Tensor m = ops::Variable(g, name + "/momentum", DType::kF32, params[i].shape());
      Tensor m_new = m * 0.9 + (*grads)[i];
      t.parameters.push_back(params[i].node());
      t.slots.push_back({params[i].node(), "momentum", m.node()});
      t.updates.emplace_back(m.node(), m_new);
      t.updates.emplace_back(params[i].node(), params[i] - lr * m_new);
    }
    REQUIRE_THAT(g.status(), IsOk());
  }

  Feeds feeds() const {
    return {{"x", Literal(DType::kF32, {4, 3}, {1, -2, 3, 0.5, 0.25, -1, 2, 2, 2, -3, 0, 1})},
            {"target", Literal(DType::kF32, {4, 3}, {0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1})},
            {"lr", Literal::Scalar(DType::kF32, 0.1)}};
  }
};

// The same fetches (by name) from two graphs.
std::vector<Tensor> Fetches(Graph& g, const std::vector<std::string>& names) {
  std::vector<Tensor> out;
  for (const std::string& n : names) {
    const size_t colon = n.rfind(':');
    const std::string node = colon == std::string::npos ? n : n.substr(0, colon);
    const int index = colon == std::string::npos ? 0 : std::stoi(n.substr(colon + 1));
    const Node* found = g.FindNode(node);
    REQUIRE(found != nullptr);
    out.push_back(g.Output(found->id, index));
  }
  return out;
}

void RequireSameResults(const Model& m, Graph& loaded) {
  Graph& original = const_cast<Graph&>(m.g);
  std::vector<std::string> names = {m.y.name(),    m.gelu.name(),  m.argmax.name(),
                                    m.mean.name(), m.pair1.name(), m.loss.name(),
                                    "all_attrs",   "c_bool",       "c_i64"};
  auto a = Interpreter::Create(original);
  auto b = Interpreter::Create(loaded);
  REQUIRE_THAT(a.status(), IsOk());
  REQUIRE_THAT(b.status(), IsOk());
  for (int step = 0; step < 3; ++step) {
    auto ra = a->RunTrainingStep(m.feeds(), Fetches(original, names));
    auto rb = b->RunTrainingStep(m.feeds(), Fetches(loaded, names));
    REQUIRE_THAT(ra.status(), IsOk());
    REQUIRE_THAT(rb.status(), IsOk());
    for (size_t i = 0; i < names.size(); ++i) {
      INFO("fetch " << names[i] << " step " << step);
      REQUIRE(SameLiteral((*ra)[i], (*rb)[i]));
    }
    REQUIRE(a->variables().size() == b->variables().size());
    for (const auto& [name, value] : a->variables()) {
      INFO("variable " << name);
      REQUIRE(SameLiteral(value, b->variables().at(name)));
    }
  }
}

TEST_CASE("A graph round-trips through the binary format") {
  Model m;
  auto def = ToGraphDef(m.g);
  REQUIRE_THAT(def.status(), IsOk());
  REQUIRE(def->version() == kGraphVersion);
  auto bytes = SerializeGraph(m.g, /*text=*/false);
  REQUIRE_THAT(bytes.status(), IsOk());
  auto parsed = ParseGraph(*bytes);
  REQUIRE_THAT(parsed.status(), IsOk());
  REQUIRE(google::protobuf::util::MessageDifferencer::Equals(*def, *parsed));
  auto loaded = FromGraphDef(*parsed);
  REQUIRE_THAT(loaded.status(), IsOk());
  RequireSameGraph(m.g, **loaded);
  // Same node order, and saving again gives the same bytes.
  for (int i = 0; i < m.g.num_nodes(); ++i) REQUIRE((*loaded)->node(i).name == m.g.node(i).name);
  auto again = SerializeGraph(**loaded, false);
  REQUIRE_THAT(again.status(), IsOk());
  REQUIRE(*again == *bytes);
}

TEST_CASE("A graph round-trips through the text format") {
  Model m;
  auto text = SerializeGraph(m.g, /*text=*/true);
  REQUIRE_THAT(text.status(), IsOk());
  // Readable: ops, sources and tensor references appear as written.
  REQUIRE(text->find("op: \"ProtoTestAllAttrs\"") != std::string::npos);
  REQUIRE(text->find("source: \"graph_def_test.cc:") != std::string::npos);
  REQUIRE(text->find("inputs: \"all_attrs:1\"") != std::string::npos);
  auto parsed = ParseGraphText(*text);
  REQUIRE_THAT(parsed.status(), IsOk());
  auto loaded = FromGraphDef(*parsed);
  REQUIRE_THAT(loaded.status(), IsOk());
  RequireSameGraph(m.g, **loaded);
  auto again = SerializeGraph(**loaded, true);
  REQUIRE_THAT(again.status(), IsOk());
  REQUIRE(*again == *text);
}

TEST_CASE("Sources, scoped names, outputs and training metadata survive a round trip") {
  Model m;
  auto loaded = FromGraphDef(*ToGraphDef(m.g));
  REQUIRE_THAT(loaded.status(), IsOk());
  const Graph& g = **loaded;
  const Node* all = g.FindNode("all_attrs");
  REQUIRE(all != nullptr);
  REQUIRE(all->source.rfind("graph_def_test.cc:", 0) == 0);
  REQUIRE(all->source == m.g.FindNode("all_attrs")->source);
  REQUIRE(g.FindNode("dense/Relu") != nullptr);
  REQUIRE(g.outputs().size() == 4);
  REQUIRE(g.outputs()[2].first == "pair:1");
  REQUIRE(RefName(g, g.outputs()[2].second) == "all_attrs:1");
  REQUIRE(g.training().optimizer == "momentum");
  REQUIRE(g.training().learning_rate == "lr");
  REQUIRE(g.training().parameters.size() == 2);
  REQUIRE(g.node(g.training().parameters[0]).name == "dense/w");
  REQUIRE(g.training().slots[1].name == "momentum");
  REQUIRE(g.node(g.training().slots[1].slot_variable).name == "dense/b/momentum");
  REQUIRE(g.training().updates.size() == 4);
  // A graph without training metadata stores none.
  Graph plain;
  ops::Relu(ops::Placeholder(plain, "p", DType::kF32, {2}));
  auto def = ToGraphDef(plain);
  REQUIRE_THAT(def.status(), IsOk());
  REQUIRE_FALSE(def->has_training());
  auto plain_loaded = FromGraphDef(*def);
  REQUIRE_THAT(plain_loaded.status(), IsOk());
  REQUIRE_FALSE((*plain_loaded)->training().loss.valid());
}

TEST_CASE("The interpreter gives identical results on the original and the loaded graph") {
  Model m;
  SECTION("binary") {
    auto loaded = FromGraphDef(*ParseGraph(*SerializeGraph(m.g, false)));
    REQUIRE_THAT(loaded.status(), IsOk());
    RequireSameResults(m, **loaded);
  }
  SECTION("text") {
    auto loaded = FromGraphDef(*ParseGraphText(*SerializeGraph(m.g, true)));
    REQUIRE_THAT(loaded.status(), IsOk());
    RequireSameResults(m, **loaded);
  }
  SECTION("nodes in reverse file order") {
    proto::GraphDef def = *ToGraphDef(m.g);
    std::reverse(def.mutable_nodes()->begin(), def.mutable_nodes()->end());
    auto loaded = FromGraphDef(def);
    REQUIRE_THAT(loaded.status(), IsOk());
    RequireSameGraph(m.g, **loaded);
    RequireSameResults(m, **loaded);
  }
}

TEST_CASE("Tensor values round-trip exactly for every dtype") {
  Graph g;
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Literal> literals = {
      Literal(DType::kF32, {6}, {0.1f, -0.0, inf, -inf, 1.17549435e-38f, 1e-45f}),
      Literal(DType::kF64, {5}, {0.1, -0.0, 5e-324, 1.7976931348623157e308, -inf}),
      Literal(DType::kF16, {3}, {65504, 5.960464477539063e-08, -2}),
      Literal(DType::kBF16, {2}, {-3.3895313892515355e38, 9.183549615799121e-41}),
      Literal(DType::kI8, {3}, {-128, 0, 127}),
      Literal(DType::kI32, {2}, {-2147483648.0, 2147483647.0}),
      Literal(DType::kI64, {3}, {-9007199254740992.0, 123456789012345.0, 9007199254740992.0}),
      Literal(DType::kBool, {2, 1}, {0, 1}),
      Literal(DType::kF32, {}, {nan}),
      Literal(DType::kI32, {0}, {}),
  };
  std::vector<TensorData> tensors;
  for (const Literal& l : literals) tensors.emplace_back(l);
  // NaNs with a sign and a payload, in every float dtype (bits as stored: little-endian).
  auto raw = [](DType dtype, int64_t n, const char* bytes) {
    return *TensorData::FromBytes(dtype, {n}, std::string(bytes, n * DTypeSize(dtype)));
  };
  tensors.push_back(raw(DType::kF32, 2, "\x01\x00\xc0\x7f\x00\x00\xc0\xff"));
  tensors.push_back(raw(DType::kF64, 1, "\x05\x00\x00\x00\x00\x00\xf8\xff"));
  tensors.push_back(raw(DType::kF16, 1, "\x01\xfe"));
  tensors.push_back(raw(DType::kBF16, 1, "\xc1\x7f"));
  for (size_t i = 0; i < tensors.size(); ++i) ops::Const(g, tensors[i], absl::StrCat("c", i));
  // The empty tensor (a Variable's unused init_value) round-trips too.
  ops::Variable(g, "v", DType::kF16, {2, 2});
  REQUIRE_THAT(g.status(), IsOk());
  for (bool text : {false, true}) {
    INFO((text ? "text" : "binary"));
    auto data = SerializeGraph(g, text);
    REQUIRE_THAT(data.status(), IsOk());
    auto def = text ? ParseGraphText(*data) : ParseGraph(*data);
    REQUIRE_THAT(def.status(), IsOk());
    auto loaded = FromGraphDef(*def);
    REQUIRE_THAT(loaded.status(), IsOk());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorData& back = (*loaded)->FindNode(absl::StrCat("c", i))->attr<TensorData>("value");
      INFO(tensors[i].ToString() << " vs " << back.ToString());
      REQUIRE(back == tensors[i]);  // bit-exact, NaNs included, in text files too
    }
    const TensorData& init = (*loaded)->FindNode("v")->attr<TensorData>("init_value");
    REQUIRE(init.size() == 0);
    REQUIRE(init.shape() == Shape());
  }
  // Each element takes its dtype's size in the file.
  auto def = ToGraphDef(g);
  REQUIRE_THAT(def.status(), IsOk());
  for (const proto::NodeDef& node : def->nodes()) {
    const std::string attr = node.op() == "Const" ? "value" : "init_value";
    const proto::Tensor& t = node.attrs().at(attr).tensor();
    const TensorData& stored = g.FindNode(node.name())->attr<TensorData>(attr);
    INFO(node.name());
    REQUIRE(static_cast<int64_t>(t.raw_data().size()) == stored.size() * DTypeSize(stored.dtype()));
    REQUIRE(t.raw_data() == stored.bytes());
    REQUIRE(t.float_values_size() == 0);
    REQUIRE(t.int_values_size() == 0);
  }
  REQUIRE(def->nodes(1).attrs().at("value").tensor().raw_data().size() == 5 * 8);  // f64[5]
  REQUIRE(def->nodes(2).attrs().at("value").tensor().raw_data() ==
          std::string("\xff\x7b\x01\x00\x00\xc0", 6));
}

TEST_CASE("Names, sources and strings that are not UTF-8 round-trip through both formats") {
  Graph g;
  g.set_source_override("\xff\xfe.cc:7");
  Tensor x = ops::Placeholder(g, "caf\xe9", DType::kF32, {2});
  g.set_source_override("");
  ops::Variable(g, "v\x80", DType::kF32, {2}, ops::Initializer::Constant(1));
  g.AddOutput("out\xc3", ops::Relu(x));
  REQUIRE_THAT(g.status(), IsOk());
  for (bool text : {false, true}) {
    auto data = SerializeGraph(g, text);
    REQUIRE_THAT(data.status(), IsOk());
    auto def = text ? ParseGraphText(*data) : ParseGraph(*data);
    REQUIRE_THAT(def.status(), IsOk());
    auto loaded = FromGraphDef(*def);
    REQUIRE_THAT(loaded.status(), IsOk());
    RequireSameGraph(g, **loaded);
    REQUIRE((*loaded)->FindNode("caf\xe9")->source == "\xff\xfe.cc:7");
  }
}

TEST_CASE("Values a graph file cannot hold are refused when saving") {
  Graph g;
  ops::Const(g, Literal::Scalar(DType::kI64, 0x1p60), "huge");
  REQUIRE_THAT(ToGraphDef(g).status(),
               StatusIs(StatusCode::kInvalidArgument, "Const 'huge' (graph_def_test.cc:"));
  REQUIRE_THAT(ToGraphDef(g).status(),
               StatusIs(StatusCode::kInvalidArgument,
                        "attribute 'value': i64 tensor value 1152921504606846976 is outside the "
                        "range a graph file stores (+-2^53"));

  Graph bad_update;
  Tensor v = ops::Variable(bad_update, "v", DType::kF32, {2});
  bad_update.training().updates.emplace_back(v.node(), ops::Scalar(bad_update, 1.0));
  REQUIRE_THAT(
      ToGraphDef(bad_update).status(),
      StatusIs(StatusCode::kInvalidArgument,
               "training update of 'v': new value Const is f32[], but the variable is f32[2]"));
  Graph bad_parameter;
  bad_parameter.training().parameters.push_back(
      ops::Placeholder(bad_parameter, "p", DType::kF32, {}).node());
  REQUIRE_THAT(ToGraphDef(bad_parameter).status(),
               StatusIs(StatusCode::kInvalidArgument, "training parameter 0 is not a Variable"));

  Graph colon;
  ops::Placeholder(colon, "a:1", DType::kF32, {});
  REQUIRE_THAT(ToGraphDef(colon).status(),
               StatusIs(StatusCode::kInvalidArgument, "cannot contain ':'"));

  Graph failed;
  ops::Add(ops::Placeholder(failed, "a", DType::kF32, {2}),
           ops::Placeholder(failed, "b", DType::kF32, {3}));
  REQUIRE_THAT(SaveGraph(failed, TempDir() + "/g.kiln"),
               StatusIs(StatusCode::kInvalidArgument, "a graph that failed to build: Add 'Add'"));
}

// Parses a text-format GraphDef (the test's own input must be well-formed) and rebuilds it.
absl::Status Load(const std::string& text) {
  auto def = ParseGraphText(text);
  REQUIRE_THAT(def.status(), IsOk());
  return FromGraphDef(*def).status();
}

constexpr char kPlaceholder[] = R"pb(
  nodes {
    name: "x"
    op: "Placeholder"
    source: "model.cc:1"
    attrs {
      key: "dtype"
      value { dtype: DT_F32 }
    }
    attrs {
      key: "shape"
      value { shape { dims: 2 } }
    }
  })pb";

std::string V1(const std::string& rest) { return absl::StrCat("version: 1 ", kPlaceholder, rest); }

TEST_CASE("Malformed bytes and text are reported") {
  REQUIRE_THAT(
      ParseGraph(std::string("\xff\xff\xff\xff\x0f", 5)).status(),
      StatusIs(StatusCode::kInvalidArgument, "malformed graph file: 5 bytes are not a binary"));
  REQUIRE_THAT(ParseGraphText("version: 1 nodes { name: ").status(),
               StatusIs(StatusCode::kInvalidArgument, "malformed text graph file: line 1, column"));
  REQUIRE_THAT(ParseGraphText("version: 1\nnodes { nmae: \"x\" }").status(),
               StatusIs(StatusCode::kInvalidArgument, "line 2, column "));
  REQUIRE_THAT(ParseGraphText("version: 1\nnodes { nmae: \"x\" }").status(),
               StatusIs(StatusCode::kInvalidArgument, "no field named \"nmae\""));
}

TEST_CASE("A version mismatch names the expected and found versions") {
  REQUIRE_THAT(Load(absl::StrCat("version: 3", kPlaceholder)),
               StatusIs(StatusCode::kInvalidArgument,
                        "unsupported graph file version: expected version 1 to 2, found "
                        "version 3"));
  REQUIRE_THAT(Load(kPlaceholder),
               StatusIs(StatusCode::kInvalidArgument, "expected version 1 to 2, found version 0"));
  REQUIRE_THAT(Load(absl::StrCat("version: 1", kPlaceholder)), IsOk());
  REQUIRE_THAT(Load(absl::StrCat("version: 2", kPlaceholder)), IsOk());
}

TEST_CASE("Unknown ops, wrong arity and bad names are reported with the node") {
  REQUIRE_THAT(
      Load(V1(R"pb(nodes { name: "f" op: "Frobnicate" inputs: "x" source: "m.cc:7" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "Frobnicate 'f' (m.cc:7): unknown op 'Frobnicate'"));
  REQUIRE_THAT(
      Load(V1(R"pb(nodes { name: "a" op: "Add" inputs: "x" source: "m.cc:8" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "Add 'a' (m.cc:8): expects 2 inputs (a, b), got 1"));
  REQUIRE_THAT(Load(V1(R"pb(nodes { name: "r" op: "Relu" })pb")),
               StatusIs(StatusCode::kInvalidArgument, "Relu 'r': expects 1 input (x), got 0"));
  REQUIRE_THAT(Load(V1(R"pb(nodes { name: "x" op: "Relu" inputs: "x" })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Relu 'x': duplicate node name (nodes 0 and 1 of the file)"));
  REQUIRE_THAT(Load(V1(R"pb(nodes { op: "Relu" inputs: "x" })pb")),
               StatusIs(StatusCode::kInvalidArgument, "node 1 of the file has an empty name"));
  REQUIRE_THAT(Load(V1(R"pb(nodes { name: "r:1" op: "Relu" inputs: "x" })pb")),
               StatusIs(StatusCode::kInvalidArgument, "Relu 'r:1': node names cannot contain ':'"));
}

TEST_CASE("Dangling inputs are reported with the node and the reference") {
  REQUIRE_THAT(
      Load(V1(R"pb(nodes { name: "r" op: "Relu" inputs: "nope" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "Relu 'r': input 0: 'nope' refers to a missing node"));
  REQUIRE_THAT(
      Load(V1(R"pb(nodes { name: "a" op: "Add" inputs: "x" inputs: "x:1" })pb")),
      StatusIs(StatusCode::kInvalidArgument,
               "Add 'a': input 1: 'x:1' refers to output 1, but 'x' (Placeholder) has 1 output"));
  for (const char* bad : {"x:", "x:-1", "x:one", ":0", "x:99999999999"}) {
    INFO(bad);
    REQUIRE_THAT(
        Load(V1(absl::StrCat(R"pb(nodes { name: "r" op: "Relu" inputs: ")pb", bad, "\" }"))),
        StatusIs(StatusCode::kInvalidArgument, "is not a tensor reference"));
  }
}

TEST_CASE("Cycles are reported with the nodes on them") {
  REQUIRE_THAT(
      Load(V1(R"pb(
        nodes { name: "a" op: "Add" inputs: "x" inputs: "c" }
        nodes { name: "b" op: "Relu" inputs: "a" }
        nodes { name: "c" op: "Relu" inputs: "b" }
        nodes { name: "d" op: "Relu" inputs: "c" })pb")),
      StatusIs(
          StatusCode::kInvalidArgument,
          "the graph has a cycle: 'a' -> 'b' -> 'c' -> 'a' (each node is an input of the next)"));
  REQUIRE_THAT(Load(V1(R"pb(nodes { name: "self" op: "Relu" inputs: "self" })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Relu 'self': the graph has a cycle: 'self' -> 'self'"));
}

TEST_CASE("Bad attribute values and types are reported with the node and attribute") {
  auto cast = [](const std::string& dtype_value) {
    return V1(absl::StrCat(R"pb(nodes { name: "c" op: "Cast" inputs: "x"
                                        attrs { key: "dtype" value {)pb",
                           dtype_value, "} } }"));
  };
  REQUIRE_THAT(Load(cast("i: 3")), StatusIs(StatusCode::kInvalidArgument,
                                            "Cast 'c': attribute 'dtype' must be dtype, got int"));
  REQUIRE_THAT(Load(cast("")),
               StatusIs(StatusCode::kInvalidArgument, "Cast 'c': attribute 'dtype': no value set"));
  REQUIRE_THAT(Load(cast("dtype: 42")), StatusIs(StatusCode::kInvalidArgument,
                                                 "Cast 'c': attribute 'dtype': invalid dtype 42"));
  REQUIRE_THAT(Load(cast("dtype: DT_INVALID")),
               StatusIs(StatusCode::kInvalidArgument, "invalid dtype 0"));
  REQUIRE_THAT(Load(V1(R"pb(nodes {
                              name: "r"
                              op: "Relu"
                              inputs: "x"
                              attrs {
                                key: "alpha"
                                value { f: 1 }
                              }
                            })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Relu 'r': unknown attribute 'alpha' (Relu has: none)"));
  REQUIRE_THAT(
      Load(V1(R"pb(nodes { name: "c" op: "Cast" inputs: "x" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "Cast 'c': missing required attribute 'dtype'"));

  auto constant = [](const std::string& tensor) {
    return V1(absl::StrCat(R"pb(nodes { name: "k" op: "Const"
                                        attrs { key: "value"
                                                value { tensor {)pb",
                           tensor, "} } } }"));
  };
  REQUIRE_THAT(
      Load(constant("dtype: DT_F32 shape { dims: 2 } float_values: 1")),
      StatusIs(StatusCode::kInvalidArgument,
               "Const 'k': attribute 'value': f32[2] tensor has 1 values, expected 2 (or none)"));
  REQUIRE_THAT(
      Load(constant("dtype: DT_I8 shape { dims: 1 } int_values: 300")),
      StatusIs(StatusCode::kInvalidArgument, "i8 tensor value 300 is out of range [-128, 127]"));
  REQUIRE_THAT(
      Load(constant("dtype: DT_BOOL int_values: 2")),
      StatusIs(StatusCode::kInvalidArgument, "bool tensor value 2 is out of range [0, 1]"));
  REQUIRE_THAT(Load(constant("dtype: DT_I64 int_values: 9007199254740993")),
               StatusIs(StatusCode::kInvalidArgument, "out of range"));
  REQUIRE_THAT(Load(constant("dtype: DT_F32 int_values: 1")),
               StatusIs(StatusCode::kInvalidArgument,
                        "f32 tensor must hold its values in float_values, not int_values"));
  REQUIRE_THAT(Load(constant("dtype: DT_F32 shape { dims: -2 }")),
               StatusIs(StatusCode::kInvalidArgument, "shape [-2] has a negative dimension"));
  // The empty tensor is accepted by the format and then rejected by Const's own rule.
  REQUIRE_THAT(
      Load(constant("dtype: DT_F32 shape { dims: 2 }")),
      StatusIs(StatusCode::kInvalidArgument, "Const 'k': value has 0 elements but shape [2]"));
  REQUIRE_THAT(Load(constant(R"pb(dtype: DT_F32 raw_data: "\000\000\200?")pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Const 'k': attribute 'value': version-1 tensors hold their values in "
                        "float_values or int_values, not raw_data"));
}

TEST_CASE("Version-2 tensors hold raw little-endian bytes, checked against their type") {
  auto constant = [](const std::string& tensor) {
    return absl::StrCat("version: 2", kPlaceholder,
                        R"pb(nodes { name: "k" op: "Const" source: "m.cc:3"
                                     attrs { key: "value"
                                             value { tensor {)pb",
                        tensor, "} } } }");
  };
  auto value = [](const std::string& text) -> TensorData {
    auto def = ParseGraphText(text);
    REQUIRE_THAT(def.status(), IsOk());
    auto g = FromGraphDef(*def);
    REQUIRE_THAT(g.status(), IsOk());
    return (*g)->FindNode("k")->attr<TensorData>("value");
  };
  // 1.0f and -2.5f, little-endian.
  TensorData f32 = value(constant(R"pb(dtype: DT_F32
                                       shape { dims: 2 }
                                       raw_data: "\000\000\200?\000\000 \300")pb"));
  REQUIRE(f32.ToLiteral().values == std::vector<double>{1.0, -2.5});
  TensorData f16 = value(constant(R"pb(dtype: DT_F16 raw_data: "\000<")pb"));  // 0x3c00
  REQUIRE(f16.at(0) == 1.0);
  TensorData i64 =
      value(constant(R"pb(dtype: DT_I64 raw_data: "\377\377\377\377\377\377\377\377")pb"));
  REQUIRE(i64.at(0) == -1.0);

  REQUIRE_THAT(Load(constant(R"pb(dtype: DT_F32
                                  shape { dims: 2 }
                                  raw_data: "\000\000\200?\000")pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Const 'k' (m.cc:3): attribute 'value': f32[2] tensor has 5 bytes of "
                        "raw_data, expected 8 (2 elements of 4 bytes) or none"));
  REQUIRE_THAT(Load(constant(R"pb(dtype: DT_BOOL
                                  shape { dims: 2 }
                                  raw_data: "\001\002")pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Const 'k' (m.cc:3): attribute 'value': bool tensor element 1 is byte 2, "
                        "not 0 or 1"));
  // 2^53 + 1.
  REQUIRE_THAT(Load(constant(R"pb(dtype: DT_I64 raw_data: "\001\000\000\000\000\000 \000")pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "i64 tensor value 9007199254740993 is outside the range a graph file "
                        "stores (+-2^53"));
  REQUIRE_THAT(Load(constant("dtype: DT_F32 float_values: 1")),
               StatusIs(StatusCode::kInvalidArgument,
                        "Const 'k' (m.cc:3): attribute 'value': version-2 tensors hold their "
                        "values in raw_data, not float_values"));
  REQUIRE_THAT(Load(constant("dtype: DT_I32 int_values: 1")),
               StatusIs(StatusCode::kInvalidArgument, "raw_data, not int_values"));
  REQUIRE_THAT(Load(constant("dtype: DT_INVALID")),
               StatusIs(StatusCode::kInvalidArgument, "invalid dtype 0"));
  REQUIRE_THAT(Load(constant("dtype: DT_F32 shape { dims: 2 }")),
               StatusIs(StatusCode::kInvalidArgument, "value has 0 elements but shape [2]"));
}

// The tensors of proto/testdata/v1_tensors.{kiln,pbtxt}, written by the version-1 writer.
void RequireV1Tensors(const Graph& g) {
  const double inf = std::numeric_limits<double>::infinity();
  auto value = [&](const std::string& name, const std::string& attr = "value") {
    const Node* node = g.FindNode(name);
    REQUIRE(node != nullptr);
    return node->attr<TensorData>(attr);
  };
  auto values = [&](const std::string& name, const std::string& attr = "value") {
    return value(name, attr).ToLiteral().values;
  };
  auto bits = [](const TensorData& t) { return std::string(t.bytes()); };

  TensorData f32 = value("c_f32");
  REQUIRE(f32.type() == TensorType{DType::kF32, {2, 4}});
  REQUIRE(f32.bytes().size() == 8 * 4);
  const std::vector<double> f32_values = f32.ToLiteral().values;
  REQUIRE(std::vector<double>(f32_values.begin(), f32_values.end() - 1) ==
          std::vector<double>{0.1f, -0.0, 0x1p-149, 0x1.fffffep127, inf, -inf, 1.0f / 3});
  REQUIRE(std::signbit(f32_values[1]));
  REQUIRE(std::isnan(f32_values[7]));
  REQUIRE(values("c_f64") == std::vector<double>{0.1, -1e300, 0x1p-1074, M_PI, -0.0});
  TensorData f16 = value("c_f16");
  REQUIRE(f16.bytes().size() == 5 * 2);
  REQUIRE(bits(f16) == std::string("\x00\x38\xff\x7b\x01\x00\x00\xfc\x55\x35", 10));
  REQUIRE(f16.ToLiteral().values == std::vector<double>{0.5, 65504, 0x1p-24, -inf, 0.333251953125});
  TensorData bf16 = value("c_bf16");
  REQUIRE(bits(bf16) == std::string("\xab\x3e\x7f\x7f\x00\xc0\x01\x00", 8));
  REQUIRE(bf16.ToLiteral().values == std::vector<double>{0.333984375, 0x1.fep127, -2.0, 0x1p-133});
  REQUIRE(bits(value("c_i8")) == std::string("\x80\x7f\x00\xff", 4));
  REQUIRE(values("c_i32") == std::vector<double>{-2147483648.0, 2147483647.0, 7});
  REQUIRE(value("c_i32").bytes().size() == 3 * 4);
  REQUIRE(value("c_i64").type() == TensorType{DType::kI64, {2, 2}});
  REQUIRE(values("c_i64") == std::vector<double>{-9007199254740992.0, 9007199254740992.0, -1, 0});
  REQUIRE(bits(value("c_bool")) == std::string("\x01\x00\x01", 3));
  REQUIRE(value("c_scalar").type() == TensorType{DType::kF32, {}});
  REQUIRE(values("c_scalar") == std::vector<double>{2.5});
  REQUIRE(value("c_empty").type() == TensorType{DType::kF32, {0, 3}});
  REQUIRE(value("c_empty").size() == 0);

  // Variables' initial values: a version-1 writer stored doubles as given (0.1, not 0.1f); they
  // load rounded to the dtype, the value the Variable always started from.
  REQUIRE(values("w", "init_value") == std::vector<double>{0.1f, 0.2f, -0.3f, 1e-3f, 1e3f, 7});
  REQUIRE(value("w", "init_value").bytes().size() == 6 * 4);
  REQUIRE(values("step", "init_value") == std::vector<double>{42});
  REQUIRE(value("step", "init_value").dtype() == DType::kI64);
  REQUIRE(bits(value("mask", "init_value")) == std::string("\x01\x01\x00\x01", 4));
  REQUIRE(values("h", "init_value") == std::vector<double>{0.0999755859375, -65504});
  REQUIRE(value("z", "init_value").size() == 0);
  REQUIRE(g.FindNode("r")->attr<std::string>("init") == "uniform");
  REQUIRE(g.FindNode("c_f32")->source == "gen.cc:16");
  REQUIRE(g.outputs().size() == 6);

  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  REQUIRE(interpreter->variables().at("w").values ==
          std::vector<double>{0.1f, 0.2f, -0.3f, 1e-3f, 1e3f, 7});
  REQUIRE(interpreter->variables().at("z").values == std::vector<double>{0, 0, 0});
  const std::vector<double>& r = interpreter->variables().at("r").values;
  REQUIRE(r.size() == 2);
  REQUIRE(r[0] == -1 + 2 * UniformAt(7, 0, 0));
}

TEST_CASE("Version-1 files still load, binary and text, with every value exact") {
  const std::string binary_path = "proto/testdata/v1_tensors.kiln";
  const std::string text_path = "proto/testdata/v1_tensors.pbtxt";
  REQUIRE(ReadAll(text_path).find("version: 1") == 0);
  REQUIRE(ParseGraph(ReadAll(binary_path))->version() == 1);
  for (const std::string& path : {binary_path, text_path}) {
    INFO(path);
    auto g = LoadGraph(path);
    REQUIRE_THAT(g.status(), IsOk());
    RequireV1Tensors(**g);
    // Saved again as version 2, it loads to the same graph.
    for (bool text : {false, true}) {
      auto data = SerializeGraph(**g, text);
      REQUIRE_THAT(data.status(), IsOk());
      auto def = text ? ParseGraphText(*data) : ParseGraph(*data);
      REQUIRE_THAT(def.status(), IsOk());
      REQUIRE(def->version() == 2);
      auto again = FromGraphDef(*def);
      REQUIRE_THAT(again.status(), IsOk());
      RequireSameGraph(**g, **again);
      RequireV1Tensors(**again);
    }
  }
  // Both files describe the same graph.
  RequireSameGraph(**LoadGraph(binary_path), **LoadGraph(text_path));
}

TEST_CASE("The version-2 writer writes what it did (proto/testdata/v2_tensors.pbtxt)") {
  const std::string golden = ReadAll("proto/testdata/v2_tensors.pbtxt");
  REQUIRE(golden.find("version: 2") == 0);
  auto v1 = LoadGraph("proto/testdata/v1_tensors.pbtxt");
  REQUIRE_THAT(v1.status(), IsOk());
  auto text = SerializeGraph(**v1, /*text=*/true);
  REQUIRE_THAT(text.status(), IsOk());
  REQUIRE(*text == golden);
  auto v2 = LoadGraph("proto/testdata/v2_tensors.pbtxt");
  REQUIRE_THAT(v2.status(), IsOk());
  RequireV1Tensors(**v2);
}

TEST_CASE("Shape errors are reported by the ops' own rules, with the node") {
  REQUIRE_THAT(
      Load(V1(R"pb(
        nodes {
          name: "y"
          op: "Placeholder"
          source: "model.cc:2"
          attrs {
            key: "dtype"
            value { dtype: DT_F32 }
          }
          attrs {
            key: "shape"
            value { shape { dims: 3 } }
          }
        }
        nodes { name: "sum" op: "Add" inputs: "x" inputs: "y" source: "model.cc:3" })pb")),
      StatusIs(StatusCode::kInvalidArgument,
               "Add 'sum' (model.cc:3): shapes [2] and [3] do not broadcast"));
  REQUIRE_THAT(Load(V1(R"pb(nodes {
                              name: "r"
                              op: "Reshape"
                              inputs: "x"
                              attrs {
                                key: "shape"
                                value { shape { dims: 3 } }
                              }
                            })pb")),
               StatusIs(StatusCode::kInvalidArgument, "Reshape 'r': cannot reshape f32[2]"));
  REQUIRE_THAT(Load(R"pb(version: 1
                         nodes {
                           name: "p"
                           op: "Placeholder"
                           attrs {
                             key: "dtype"
                             value { dtype: DT_F32 }
                           }
                           attrs {
                             key: "shape"
                             value { shape { dims: 1048576 dims: 1048576 dims: 1048576 } }
                           }
                         })pb"),
               StatusIs(StatusCode::kInvalidArgument,
                        "Placeholder 'p': attribute 'shape': shape "
                        "[1048576,1048576,1048576] has more than 2^48 elements"));
  REQUIRE_THAT(Load(V1(R"pb(nodes {
                              name: "b"
                              op: "BroadcastTo"
                              inputs: "x"
                              attrs {
                                key: "shape"
                                value { shape { dims: 2 dims: -1 } }
                              }
                            })pb")),
               StatusIs(StatusCode::kInvalidArgument, "BroadcastTo 'b': "));
  REQUIRE_THAT(Load(R"pb(version: 1
                         nodes {
                           name: "v"
                           op: "Variable"
                           attrs {
                             key: "dtype"
                             value { dtype: DT_F32 }
                           }
                           attrs {
                             key: "shape"
                             value { shape { dims: 2 } }
                           }
                           attrs {
                             key: "init"
                             value { s: "value" }
                           }
                           attrs {
                             key: "init_value"
                             value {
                               tensor {
                                 dtype: DT_F32
                                 shape { dims: 3 }
                                 float_values: [ 1, 2, 3 ]
                               }
                             }
                           }
                         })pb"),
               StatusIs(StatusCode::kInvalidArgument,
                        "Variable 'v': initial value f32[3] with 3 values does not match f32[2]"));
  REQUIRE_THAT(Load(R"pb(version: 1
                         nodes {
                           name: "v"
                           op: "Variable"
                           attrs {
                             key: "dtype"
                             value { dtype: DT_F32 }
                           }
                           attrs {
                             key: "shape"
                             value { shape {} }
                           }
                           attrs {
                             key: "init"
                             value { s: "ones" }
                           }
                         })pb"),
               StatusIs(StatusCode::kInvalidArgument, "Variable 'v': unknown initializer 'ones'"));
}

TEST_CASE("Outputs and training metadata that refer to missing nodes are reported") {
  REQUIRE_THAT(
      Load(V1(R"pb(outputs { name: "y" tensor: "nope" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "graph output 'y': 'nope' refers to a missing node"));
  REQUIRE_THAT(Load(V1(R"pb(outputs { name: "y" tensor: "x" }
                            outputs { name: "y" tensor: "x" })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "graph output 'y': name is used by more than one output"));
  REQUIRE_THAT(
      Load(V1(R"pb(training { loss: "gone:0" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "training loss: 'gone:0' refers to a missing node"));
  REQUIRE_THAT(
      Load(V1(R"pb(training { parameters: "w" })pb")),
      StatusIs(StatusCode::kInvalidArgument, "training parameter: 'w' refers to a missing node"));
  REQUIRE_THAT(Load(V1(R"pb(training { parameters: "x" })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "training parameter: 'x' is a Placeholder, not a Variable"));
  const std::string variable = R"pb(
    nodes {
      name: "w"
      op: "Variable"
      attrs {
        key: "dtype"
        value { dtype: DT_F32 }
      }
      attrs {
        key: "shape"
        value { shape { dims: 3 } }
      }
    })pb";
  REQUIRE_THAT(Load(V1(variable + R"pb(training {
                                         slots { variable: "w" name: "m" slot_variable: "w_m" }
                                       })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "training slot 'm' of 'w': 'w_m' refers to a missing node"));
  REQUIRE_THAT(Load(V1(variable + R"pb(training { updates { variable: "w" value: "w2" } })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "training update of 'w': 'w2' refers to a missing node"));
  REQUIRE_THAT(
      Load(V1(variable + R"pb(training { updates { variable: "w" value: "x" } })pb")),
      StatusIs(StatusCode::kInvalidArgument,
               "training update of 'w': new value 'x' is f32[2], but the variable is f32[3]"));
  REQUIRE_THAT(Load(V1(R"pb(training { learning_rate: "lr" })pb")),
               StatusIs(StatusCode::kInvalidArgument,
                        "training learning rate: 'lr' refers to a missing node"));
  REQUIRE_THAT(Load(V1(variable +
                       R"pb(training { parameters: "w" optimizer: "sgd" learning_rate: "x" })pb")),
               IsOk());
}

TEST_CASE("SaveGraph and LoadGraph use binary or text by extension and write atomically") {
  Model m;
  const std::string dir = TempDir();
  const std::string bin = dir + "/model.kiln";
  const std::string text = dir + "/model.pbtxt";
  REQUIRE_THAT(SaveGraph(m.g, bin), IsOk());
  REQUIRE_THAT(SaveGraph(m.g, text), IsOk());
  REQUIRE(ReadAll(text).find("version: 2") == 0);
  REQUIRE(ReadAll(bin) == *SerializeGraph(m.g, false));
  // Saving over an existing file replaces it; no temporary file is left behind.
  REQUIRE_THAT(SaveGraph(m.g, bin), IsOk());
  REQUIRE(ListDir(dir) == std::set<std::string>{"model.kiln", "model.pbtxt"});
  struct stat st;
  REQUIRE(stat(bin.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0044) != 0);  // created with the usual permissions, not mkstemp's 0600

  for (const std::string& path : {bin, text}) {
    auto loaded = LoadGraph(path);
    REQUIRE_THAT(loaded.status(), IsOk());
    RequireSameGraph(m.g, **loaded);
  }

  // A save that cannot happen reports why and leaves nothing behind.
  REQUIRE_THAT(SaveGraph(m.g, dir + "/missing/model.kiln"),
               StatusIs(StatusCode::kNotFound, "cannot write '" + dir + "/missing/model.kiln'"));
  REQUIRE(mkdir((dir + "/sub").c_str(), 0755) == 0);
  const absl::Status over_dir = SaveGraph(m.g, dir + "/sub");
  REQUIRE_FALSE(over_dir.ok());
  REQUIRE_THAT(over_dir,
               StatusIs(over_dir.code(), "cannot write '" + dir + "/sub': rename failed"));
  REQUIRE(ListDir(dir) == std::set<std::string>{"model.kiln", "model.pbtxt", "sub"});
}

TEST_CASE("LoadGraph reports missing and malformed files with their path") {
  const std::string dir = TempDir();
  REQUIRE_THAT(LoadGraph(dir + "/absent.kiln").status(),
               StatusIs(StatusCode::kNotFound, "cannot read graph file '" + dir + "/absent.kiln'"));
  const std::string garbage = dir + "/garbage.kiln";
  std::ofstream(garbage) << "\xff\xff\xff garbage";
  REQUIRE_THAT(LoadGraph(garbage).status(),
               StatusIs(StatusCode::kInvalidArgument, garbage + ": malformed graph file"));
  const std::string bad_text = dir + "/bad.pbtxt";
  std::ofstream(bad_text) << V1(R"pb(nodes { name: "r" op: "Relu" inputs: "nope" })pb");
  REQUIRE_THAT(LoadGraph(bad_text).status(),
               StatusIs(StatusCode::kInvalidArgument, bad_text + ": Relu 'r': input 0: 'nope'"));
}

}  // namespace
}  // namespace kiln
