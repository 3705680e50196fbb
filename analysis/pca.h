#pragma once
// PCA of condition-averaged trajectories: the rows are (condition, bin) points of the PSTH
// means [C*n_bins x W], columns neurons. Points where a condition has no trials (NaN) are left
// out. Columns are centred on the mean over the points used; components come from the SVD of
// that matrix (as sklearn's PCA does): explained_variance = s^2 / (m - 1) for m points,
// explained_variance_ratio = s^2 / sum(all s^2). Each component's sign is fixed so that its
// largest-magnitude loading is positive (a deterministic choice; any sign is as valid).
//
// Before that, optionally (jPCA's preprocess order): each unit is scaled over the points used,
// y = (x - offset) * scale (zscore: offset = mean, scale = 1/SD with n, 1 where SD is 0; soft:
// offset 0, scale = 1/(max - min + c)); then, with PcaCenter::kCrossCondition, each bin's mean
// over the conditions with data there is subtracted (jPCA's subtract_cc_mean).
#include <cstdint>
#include <vector>

#include "analysis/alignment.h"
#include "analysis/analysis_config.h"

namespace rig::analysis {

struct PcaResult {
  Mat components;                            // [k x W]
  Eigen::VectorXd explained_variance;        // [k]
  Eigen::VectorXd explained_variance_ratio;  // [k]
  Eigen::RowVectorXd center;                 // [W], of the scaled (and cc-subtracted) points
  Eigen::RowVectorXd offset, scale;          // [W]: y = (x - offset) * scale
  std::vector<Mat> projections;              // per condition [n_bins x k]; NaN where no data
};

// means: per condition [n_bins x W]. k is capped at min(points, W).
PcaResult pca_condition_averages(const std::vector<Mat>& means, int64_t k, Normalize normalize = Normalize::kNone,
                                 double soft_c = 5, PcaCenter center = PcaCenter::kMean);

}  // namespace rig::analysis
