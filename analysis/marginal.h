#pragma once
// dPCA's marginalized variance (Kobak et al. 2016, eLife 5:e10989, "Marginalization
// procedure"): the variance of the condition-averaged PSTHs split into the parts that depend
// on time only (condition-independent), on each group_by field (with its interaction with
// time) and on both fields together (their interaction, with time). The parts are orthogonal
// on the full grid of field values, so their fractions sum to 1.
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/alignment.h"

namespace rig::analysis {

struct Marginalization {
  // dPCA's grouping: "time" (condition-independent), FIELD1 (+ FIELD1 x time), FIELD2
  // (+ FIELD2 x time) and "FIELD1:FIELD2" (+ x time); one field: time and FIELD1.
  std::vector<std::string> terms;
  std::vector<double> fraction;  // of the total variance; sums to 1 (NaN without data)
  // The ANOVA-style parts: t, a, b, ta, tb, ab, tab (a, b: the fields); one field: t, a, ta.
  std::vector<std::string> parts;
  std::vector<double> part_fraction;
  double total = 0;       // sum of squares of the centred PSTHs over neurons, bins and conditions
  int64_t bins_used = 0;  // bins where every cell of the grid has data (the others are left out)
};

// means[c]: condition c's PSTH mean [n_bins x W] (Alignment order); al.levels and
// al.condition_levels give the grid. A grid cell without a condition, or no bin where every
// cell has data: all fractions NaN.
Marginalization marginalize(const std::vector<Mat>& means, const Alignment& al, const std::vector<std::string>& fields);

}  // namespace rig::analysis
