#include "analysis/psth.h"

#include <cmath>
#include <limits>

namespace rig::analysis {

PsthAccumulator::PsthAccumulator(int n_conditions, size_t n_bins, int64_t width) {
  acc_.resize(size_t(n_conditions));
  for (auto& a : acc_) {
    a.mean = Mat::Zero(int64_t(n_bins), width);
    a.m2 = Mat::Zero(int64_t(n_bins), width);
    a.n.assign(n_bins, 0);
  }
}

void PsthAccumulator::add(int c, const Mat& binned, const std::vector<char>& valid) {
  Acc& a = acc_[size_t(c)];
  for (size_t j = 0; j < valid.size(); ++j) {
    if (!valid[j]) continue;
    const int64_t r = int64_t(j);
    const double n = double(++a.n[j]);
    const Eigen::RowVectorXd delta = binned.row(r) - a.mean.row(r);
    a.mean.row(r) += delta / n;
    a.m2.row(r).array() += delta.array() * (binned.row(r) - a.mean.row(r)).array();
  }
}

Psth PsthAccumulator::result(int c) const {
  const Acc& a = acc_[size_t(c)];
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  Psth p;
  p.n = a.n;
  p.mean = a.mean;
  p.sd = Mat::Constant(a.mean.rows(), a.mean.cols(), nan);
  p.sem = p.sd;
  for (int64_t j = 0; j < a.mean.rows(); ++j) {
    const double n = double(a.n[size_t(j)]);
    if (n == 0) p.mean.row(j).setConstant(nan);
    if (n < 2) continue;
    p.sd.row(j) = (a.m2.row(j) / (n - 1)).array().sqrt().matrix();
    p.sem.row(j) = p.sd.row(j) / std::sqrt(n);
  }
  return p;
}

}  // namespace rig::analysis
