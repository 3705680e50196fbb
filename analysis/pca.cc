#include "analysis/pca.h"

#include <cmath>
#include <limits>

#include <Eigen/SVD>

namespace rig::analysis {

PcaResult pca_condition_averages(const std::vector<Mat>& in, int64_t k, Normalize normalize, double soft_c,
                                 PcaCenter center) {
  PcaResult r;
  const int64_t w0 = in.empty() ? 0 : in[0].cols();
  std::vector<std::pair<size_t, int64_t>> used;  // (condition, bin)
  for (size_t c = 0; c < in.size(); ++c)
    for (int64_t j = 0; j < in[c].rows(); ++j)
      if (in[c].row(j).allFinite()) used.emplace_back(c, j);
  // Per-unit scaling over the points used.
  r.offset = Eigen::RowVectorXd::Zero(w0);
  r.scale = Eigen::RowVectorXd::Ones(w0);
  if (normalize != Normalize::kNone && !used.empty()) {
    Eigen::MatrixXd P(int64_t(used.size()), w0);
    for (size_t i = 0; i < used.size(); ++i) P.row(int64_t(i)) = in[used[i].first].row(used[i].second);
    if (normalize == Normalize::kZscore) {
      r.offset = P.colwise().mean();
      for (int64_t j = 0; j < w0; ++j) {
        const double sd = std::sqrt((P.col(j).array() - r.offset[j]).square().mean());
        r.scale[j] = sd > 0 ? 1.0 / sd : 1.0;
      }
    } else {
      r.scale = (P.colwise().maxCoeff() - P.colwise().minCoeff()).array() + soft_c;
      r.scale = r.scale.cwiseInverse();
    }
  }
  std::vector<Mat> means;
  for (const Mat& m : in) means.push_back(((m.rowwise() - r.offset).array().rowwise() * r.scale.array()).matrix());
  if (center == PcaCenter::kCrossCondition && !means.empty()) {
    for (int64_t j = 0; j < means[0].rows(); ++j) {
      Eigen::RowVectorXd cc = Eigen::RowVectorXd::Zero(w0);
      int n = 0;
      for (const Mat& m : means)
        if (m.row(j).allFinite()) cc += m.row(j), ++n;
      if (n == 0) continue;
      cc /= double(n);
      for (Mat& m : means)
        if (m.row(j).allFinite()) m.row(j) -= cc;
    }
  }
  used.clear();
  const int64_t w = w0;
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
