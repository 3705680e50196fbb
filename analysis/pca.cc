#include "analysis/pca.h"

#include <cmath>
#include <limits>

#include <Eigen/SVD>

namespace rig::analysis {

PcaResult pca_condition_averages(const std::vector<Mat>& means, int64_t k) {
  PcaResult r;
  const int64_t w = means.empty() ? 0 : means[0].cols();
  std::vector<std::pair<size_t, int64_t>> used;  // (condition, bin)
  for (size_t c = 0; c < means.size(); ++c)
    for (int64_t j = 0; j < means[c].rows(); ++j)
      if (means[c].row(j).allFinite()) used.emplace_back(c, j);
  const int64_t m = int64_t(used.size());
  k = std::max<int64_t>(0, std::min({k, m, w}));
  Eigen::MatrixXd X(m, w);
  for (int64_t i = 0; i < m; ++i) X.row(i) = means[used[size_t(i)].first].row(used[size_t(i)].second);
  r.center = m > 0 ? Eigen::RowVectorXd(X.colwise().mean()) : Eigen::RowVectorXd::Zero(w);
  X.rowwise() -= r.center;
  r.components = Mat::Zero(k, w);
  r.explained_variance = Eigen::VectorXd::Zero(k);
  r.explained_variance_ratio = Eigen::VectorXd::Zero(k);
  if (k > 0 && m > 1) {
    Eigen::BDCSVD<Eigen::MatrixXd> svd(X, Eigen::ComputeThinV);
    const Eigen::VectorXd s = svd.singularValues();
    const double total = s.squaredNorm();
    for (int64_t i = 0; i < k; ++i) {
      Eigen::RowVectorXd v = svd.matrixV().col(i).transpose();
      Eigen::Index at;
      v.cwiseAbs().maxCoeff(&at);
      if (v[at] < 0) v = -v;
      r.components.row(i) = v;
      r.explained_variance[i] = s[i] * s[i] / double(m - 1);
      r.explained_variance_ratio[i] = total > 0 ? s[i] * s[i] / total : 0;
    }
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Mat& mc : means) {
    Mat p = Mat::Constant(mc.rows(), k, nan);
    for (int64_t j = 0; j < mc.rows(); ++j)
      if (mc.row(j).allFinite()) p.row(j) = (mc.row(j) - r.center) * r.components.transpose();
    r.projections.push_back(p);
  }
  return r;
}

}  // namespace rig::analysis
