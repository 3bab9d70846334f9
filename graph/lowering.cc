#include "graph/lowering.h"

namespace kiln {

LowerFn ElementwiseLowering(ScalarFn body) {
  return [body](LoweringContext& c) {
    std::vector<IrValue> inputs;
    for (size_t i = 0; i < c.node().inputs.size(); ++i) inputs.push_back(c.input(static_cast<int>(i)));
    c.SetOutput(0, c.Elementwise(inputs, c.node().outputs[0], body));
    return absl::OkStatus();
  };
}

}  // namespace kiln
