#pragma once
// Internal to src/stimulation: the values of op add's `vector:` and op mean-ablate's `mean:`,
// inline, from a .npy file, an HDF5 dataset, or condition means of a rig recording.
#include <string>
#include <vector>

#include "experiment/schema.h"
#include "stimulation/rows.h"
#include "stimulation/stimulation.h"

namespace rig {

// A `vector:` or `mean:` as written, decoded by vector_codec with the schema engine (so its
// errors read as every config error's do). One of:
//   [x0, x1, ...]                                    inline values
//   {file: V.npy} | {file: F.h5, dataset: NAME}      a file's values, flattened
//   {recording: R.h5, condition: A | conditions: [A, B], rows: ROWS, site: S, side: X}
//                                                    mean of A (minus mean of B) in a recording
struct VectorSource {
  bool mean_only = false;      // `mean:`: the recording form with one condition only
  std::vector<double> values;  // inline
  std::string file, dataset;
  std::string recording;
  std::vector<std::string> conditions;  // one (its mean) or two (A minus B)
  RowSelector rows;
  std::string site, side;  // "": the intervention's
  std::string where;       // FILE:LINE:COL: KEY.PATH of the value, for errors found when loading
  std::string dataset_where;
};

// Rows (`rows:`, `positions:`) in the syntax of rows.h.
cfg::Codec<RowSelector> rows_codec();

// Decodes a VectorSource; `mean_only` for mean-ablate's `mean:`. Files must exist.
cfg::Codec<VectorSource> vector_codec(bool mean_only);

// The values of `src` for intervention iv: one per selected neuron of iv for a recording's
// means; a file's or inline values as they are (the caller checks the width). *from says where
// the values came from, for the plan. Throws ConfigError.
std::vector<float> load_vector(const VectorSource& src, const Intervention& iv, std::string* from);

// A .npy file of float32 or float64 values (any shape, C order), flattened. Throws ConfigError
// with `where` as prefix.
std::vector<float> read_npy(const std::string& file, const std::string& where);

}  // namespace rig
