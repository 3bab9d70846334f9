#include "graph/lowering.h"

#include <algorithm>

namespace kiln {

std::vector<AffineIndex> AffineIndex::Loops(int first, int count) {
  std::vector<AffineIndex> index;
  for (int i = 0; i < count; ++i) index.push_back(Loop(first + i));
  return index;
}

AffineIndex AffineIndex::operator+(const AffineIndex& other) const {
  AffineIndex sum = *this;
  sum.terms.insert(sum.terms.end(), other.terms.begin(), other.terms.end());
  sum.offset += other.offset;
  return sum;
}

AffineIndex AffineIndex::operator+(int64_t constant) const {
  AffineIndex sum = *this;
  sum.offset += constant;
  return sum;
}

LowerFn ElementwiseLowering(ScalarFn body) {
  return [body](LoweringContext& c) {
    std::vector<IrValue> inputs;
    for (size_t i = 0; i < c.node().inputs.size(); ++i)
      inputs.push_back(c.input(static_cast<int>(i)));
    c.SetOutput(0, c.Elementwise(inputs, c.node().outputs[0], body));
    return absl::OkStatus();
  };
}

IrValue PadOrCrop(LoweringContext& c, IrValue x, const std::vector<int64_t>& low,
                  const std::vector<int64_t>& high, double value) {
  const TensorType type = c.TypeOf(x);
  const int rank = type.shape.rank();
  std::vector<int64_t> offsets(rank), sizes(rank), pad_low(rank), pad_high(rank), result(rank);
  bool crop = false, pad = false, empty = false;
  for (int d = 0; d < rank; ++d) {
    const int64_t cut_low = std::max<int64_t>(0, -low[d]),
                  cut_high = std::max<int64_t>(0, -high[d]);
    offsets[d] = cut_low;
    sizes[d] = type.shape[d] - cut_low - cut_high;
    pad_low[d] = std::max<int64_t>(0, low[d]);
    pad_high[d] = std::max<int64_t>(0, high[d]);
    result[d] = type.shape[d] + low[d] + high[d];
    crop |= cut_low > 0 || cut_high > 0;
    pad |= pad_low[d] > 0 || pad_high[d] > 0;
    empty |= sizes[d] <= 0;
  }
  // Everything cropped away: only padding is left.
  if (empty) return c.Fill(value, {type.dtype, Shape(result)});
  if (crop) x = c.ExtractSlice(x, offsets, sizes, std::vector<int64_t>(rank, 1));
  if (pad) x = c.Pad(x, pad_low, pad_high, value);
  return x;
}

}  // namespace kiln
