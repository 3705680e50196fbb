#pragma once
// Time-resolved statistics: per bin and unit, the contrast's d' and AUC and the one-way ANOVA F
// over the conditions (formulas as in stats.h, on each trial's binned value; trials without
// data in a bin are left out of that bin), and the cluster-mass permutation test across bins
// (Maris & Oostenveld 2007; FieldTrip correctm = 'cluster', clusterstatistic = 'maxsum',
// one-tailed F): bins whose F exceeds the F(k-1, n-k) quantile 1 - cluster_alpha form clusters
// of contiguous bins per unit; a cluster's mass is the sum of its F. Condition labels are
// shuffled across trials (Fisher-Yates on std::mt19937_64(seed), the same permutation for every
// bin and unit); each permutation contributes its largest cluster mass over every unit to the
// null. A cluster's p = (1 + #{null >= mass}) / (1 + n_perm), computed by the caller once the
// null of every electrode is merged (the same seed gives every electrode the same permutations).
//
// Memory: every included trial's binned values are held, trials x bins x W doubles.
#include <cstdint>
#include <vector>

#include "analysis/alignment.h"

namespace rig::analysis {

struct Cluster {
  int64_t neuron = 0;           // column within the electrode
  int64_t first = 0, last = 0;  // bins, inclusive
  double mass = 0, p = 0;
};

struct Timecourse {
  Mat d_prime, auc, anova_f, anova_p;  // [n_bins x W]
  std::vector<Cluster> clusters;       // observed, by neuron then bin
  std::vector<double> max_mass;        // [n_perm]: the largest cluster mass per permutation (0: none)
};

// binned[i]: trial i's [n_bins x W] values (NaN where valid[i][j] is 0); labels[i] in [0, C).
// ca, cb: the contrast (-1: no d' and AUC).
Timecourse timecourse(const std::vector<Mat>& binned, const std::vector<std::vector<char>>& valid,
                      const std::vector<int>& labels, int C, int ca, int cb, double cluster_alpha, int64_t n_perm,
                      uint64_t seed);

// Cluster p-values against the merged null.
void cluster_p(std::vector<Cluster>& clusters, const std::vector<double>& max_mass);

}  // namespace rig::analysis
