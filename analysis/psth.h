#pragma once
// PSTH-like cross-trial averages, accumulated one trial at a time (Welford's update, in double)
// so memory is [conditions x bins x neurons], whatever the number of trials.
//
// Per condition and bin: n = trials with data in that bin (masked bins of a trial add nothing),
// mean, SD (n - 1), SEM = SD / sqrt(n). Bins with n = 0 are NaN; SD and SEM with n = 1 are NaN.
#include <cstdint>
#include <vector>

#include "analysis/alignment.h"

namespace rig::analysis {

struct Psth {
  Mat mean, sd, sem;       // [n_bins x W]
  std::vector<int64_t> n;  // [n_bins]: trials with data per bin
};

class PsthAccumulator {
 public:
  PsthAccumulator(int n_conditions, size_t n_bins, int64_t width);
  // One trial's binned values (Binner::bin) for condition c.
  void add(int c, const Mat& binned, const std::vector<char>& valid);
  Psth result(int c) const;

 private:
  struct Acc {
    Mat mean, m2;
    std::vector<int64_t> n;
  };
  std::vector<Acc> acc_;
};

}  // namespace rig::analysis
