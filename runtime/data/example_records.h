// Example records: a Dataset's columns stored in a TFRecord file (runtime/data/tfrecord.h), one
// record per example, so training data prepared once (decoded, cropped, converted) is read back
// without redoing it.
//
// Format, version 1. Integers are little-endian; a string is a u32 size and then its bytes.
//
//   record 0, the schema:
//     "KILNEXv1"                 8 bytes, the magic (and version)
//     u32 number of columns      at least 1
//     per column, in order:
//       string name              non-empty, distinct
//       u32 element type         0 u8, 1 i32, 2 i64, 3 f32, 4 f64
//       u32 rank of one example, then that many i64 extents (≥ 0)
//   record 1 + i, example i:
//     each column's elements for example i (row-major, little-endian), in schema order, back to
//     back
//
// An example's size follows from the schema, so a record of any other size is DataLoss naming it.
// TFRecord's CRCs cover every byte, so any corrupted byte is DataLoss too. The schema does not hold
// the number of examples: a file cut exactly between two records after the schema reads as a valid
// file with fewer examples, as TFRecord framing cannot tell such a cut from the end of the file; a
// cut anywhere else is DataLoss. WriteExampleRecords never leaves such a file (it writes
// atomically); only copies made outside Kiln can.
#ifndef KILN_RUNTIME_DATA_EXAMPLE_RECORDS_H_
#define KILN_RUNTIME_DATA_EXAMPLE_RECORDS_H_

#include <string>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {

// Writes `columns` (as Dataset::FromColumns takes them: at least one, distinct non-empty names,
// bytes matching shapes, the same number of examples in each) to `path` atomically: into a
// temporary file beside it (`<path>.tmp.<pid>.<counter>`), synced, renamed over `path`, and the
// directory synced. Errors name `path`: InvalidArgument for bad columns (nothing is written),
// Unavailable for I/O (the temporary file is removed).
Status WriteExampleRecords(const std::string& path, const std::vector<Column>& columns);

// Reads the columns of the example-record file at `path`, each with its first dimension the number
// of examples. Errors name `path`: NotFound when it does not exist, Unavailable when it cannot be
// read, InvalidArgument when it is not an example-record file (bad magic, or not TFRecord framing
// at all), DataLoss when it is corrupt, truncated inside a record, or malformed (the record is
// named).
StatusOr<std::vector<Column>> ReadExampleRecords(const std::string& path);

// ReadExampleRecords, as a Dataset.
StatusOr<Dataset> ReadExampleDataset(const std::string& path);

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_DATA_EXAMPLE_RECORDS_H_
