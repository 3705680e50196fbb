#pragma once
// PCA of condition-averaged trajectories: the rows are (condition, bin) points of the PSTH
// means [C*n_bins x W], columns neurons. Points where a condition has no trials (NaN) are left
// out. Columns are centred on the mean over the points used; components come from the SVD of
// that matrix (as sklearn's PCA does): explained_variance = s^2 / (m - 1) for m points,
// explained_variance_ratio = s^2 / sum(all s^2). Each component's sign is fixed so that its
// largest-magnitude loading is positive (a deterministic choice; any sign is as valid).
#include <cstdint>
#include <vector>

#include "analysis/alignment.h"

namespace rig::analysis {

struct PcaResult {
  Mat components;                            // [k x W]
  Eigen::VectorXd explained_variance;        // [k]
  Eigen::VectorXd explained_variance_ratio;  // [k]
  Eigen::RowVectorXd center;                 // [W]
  std::vector<Mat> projections;              // per condition [n_bins x k]; NaN where no data
};

// means: per condition [n_bins x W]. k is capped at min(points, W).
PcaResult pca_condition_averages(const std::vector<Mat>& means, int64_t k);

}  // namespace rig::analysis
