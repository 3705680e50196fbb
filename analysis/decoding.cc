#include "analysis/decoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace rig::analysis {

std::vector<int> assign_folds(const std::vector<int>& labels, int n_conditions, int k, uint64_t seed) {
  std::vector<int> fold(labels.size(), -1);
  std::mt19937_64 rng(seed);
  for (int c = 0; c < n_conditions; ++c) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) idx.push_back(i);
    for (size_t i = idx.size(); i > 1; --i) {
      std::uniform_int_distribution<size_t> pick(0, i - 1);
      std::swap(idx[i - 1], idx[pick(rng)]);
    }
    for (size_t i = 0; i < idx.size(); ++i) fold[idx[i]] = int(i % size_t(k));
  }
  return fold;
}

CentroidDecoder::CentroidDecoder(int n_conditions, int n_folds, size_t n_bins, int64_t width, Normalize normalize,
                                 double soft_c, bool generalization)
    : C_(n_conditions), F_(n_folds), nb_(n_bins), w_(width), norm_(normalize), soft_c_(soft_c), gen_(generalization) {
  sum_.assign(size_t(C_ * F_), Mat::Zero(int64_t(nb_), w_));
  count_.assign(size_t(C_ * F_), std::vector<int64_t>(nb_, 0));
  correct_.assign(nb_, 0);
  tested_.assign(nb_, 0);
  if (norm_ == Normalize::kZscore) {
    shift_ = Mat::Zero(int64_t(nb_), w_);
    shift_set_.assign(nb_, 0);
    d1_.assign(size_t(F_), Mat::Zero(int64_t(nb_), w_));
    d2_ = d1_;
  } else if (norm_ == Normalize::kSoft) {
    mn_.assign(size_t(F_), Mat::Constant(int64_t(nb_), w_, std::numeric_limits<double>::infinity()));
    mx_.assign(size_t(F_), Mat::Constant(int64_t(nb_), w_, -std::numeric_limits<double>::infinity()));
  }
  if (gen_) {
    gen_correct_.assign(nb_ * nb_, 0);
    gen_tested_.assign(nb_ * nb_, 0);
  }
}

void CentroidDecoder::train(int c, int f, const Mat& binned, const std::vector<char>& valid) {
  const size_t s = size_t(f * C_ + c);
  for (size_t j = 0; j < nb_; ++j)
    if (valid[j]) {
      const auto x = binned.row(int64_t(j));
      sum_[s].row(int64_t(j)) += x;
      ++count_[s][j];
      if (norm_ == Normalize::kZscore) {
        // Sums around the bin's first value, so the variance does not cancel catastrophically.
        if (!shift_set_[j]) shift_.row(int64_t(j)) = x, shift_set_[j] = 1;
        const Eigen::RowVectorXd d = x - shift_.row(int64_t(j));
        d1_[size_t(f)].row(int64_t(j)) += d;
        d2_[size_t(f)].row(int64_t(j)) += d.array().square().matrix();
      } else if (norm_ == Normalize::kSoft) {
        mn_[size_t(f)].row(int64_t(j)) = mn_[size_t(f)].row(int64_t(j)).cwiseMin(x);
        mx_[size_t(f)].row(int64_t(j)) = mx_[size_t(f)].row(int64_t(j)).cwiseMax(x);
      }
    }
}

void CentroidDecoder::finish_training() {
  std::vector<Mat> total(size_t(C_), Mat::Zero(int64_t(nb_), w_));
  std::vector<std::vector<int64_t>> n(size_t(C_), std::vector<int64_t>(nb_, 0));
  for (int f = 0; f < F_; ++f)
    for (int c = 0; c < C_; ++c) {
      total[size_t(c)] += sum_[size_t(f * C_ + c)];
      for (size_t j = 0; j < nb_; ++j) n[size_t(c)][j] += count_[size_t(f * C_ + c)][j];
    }
  centroid_.assign(size_t(C_ * F_), Mat());
  has_.assign(size_t(C_ * F_), std::vector<int64_t>(nb_, 0));
  for (int f = 0; f < F_; ++f)
    for (int c = 0; c < C_; ++c) {
      const size_t s = size_t(f * C_ + c);
      centroid_[s] = total[size_t(c)] - sum_[s];
      for (size_t j = 0; j < nb_; ++j) {
        has_[s][j] = n[size_t(c)][j] - count_[s][j];
        if (has_[s][j] > 0) centroid_[s].row(int64_t(j)) /= double(has_[s][j]);
      }
    }
  sum_.clear();  // only the centroids are needed from here on
  scale_.assign(size_t(F_), Mat::Ones(int64_t(nb_), w_));
  if (norm_ == Normalize::kZscore) {
    Mat t1 = Mat::Zero(int64_t(nb_), w_), t2 = t1;
    for (int f = 0; f < F_; ++f) t1 += d1_[size_t(f)], t2 += d2_[size_t(f)];
    for (int f = 0; f < F_; ++f)
      for (size_t j = 0; j < nb_; ++j) {
        int64_t n = 0;
        for (int c = 0; c < C_; ++c) n += has_[size_t(f * C_ + c)][j];
        if (n == 0) continue;
        const Eigen::RowVectorXd m1 = (t1.row(int64_t(j)) - d1_[size_t(f)].row(int64_t(j))) / double(n);
        const Eigen::RowVectorXd m2 = (t2.row(int64_t(j)) - d2_[size_t(f)].row(int64_t(j))) / double(n);
        for (int64_t k = 0; k < w_; ++k) {
          const double var = std::max(0.0, m2[k] - m1[k] * m1[k]);
          scale_[size_t(f)](int64_t(j), k) = var > 0 ? 1.0 / std::sqrt(var) : 1.0;
        }
      }
    d1_.clear();
    d2_.clear();
  } else if (norm_ == Normalize::kSoft) {
    for (int f = 0; f < F_; ++f) {
      Mat lo = Mat::Constant(int64_t(nb_), w_, std::numeric_limits<double>::infinity());
      Mat hi = -lo;
      for (int g = 0; g < F_; ++g)
        if (g != f) lo = lo.cwiseMin(mn_[size_t(g)]), hi = hi.cwiseMax(mx_[size_t(g)]);
      for (size_t j = 0; j < nb_; ++j)
        for (int64_t k = 0; k < w_; ++k) {
          const double r = hi(int64_t(j), k) - lo(int64_t(j), k);
          if (std::isfinite(r)) scale_[size_t(f)](int64_t(j), k) = 1.0 / (r + soft_c_);
        }
    }
    mn_.clear();
    mx_.clear();
  }
}

int CentroidDecoder::classify(int f, size_t t, const Eigen::Ref<const Eigen::RowVectorXd>& x) const {
  int best = -1, candidates = 0;
  double best_d = std::numeric_limits<double>::infinity();
  const auto sc = scale_[size_t(f)].row(int64_t(t));
  for (int k = 0; k < C_; ++k) {
    const size_t s = size_t(f * C_ + k);
    if (has_[s][t] == 0) continue;
    ++candidates;
    const double d = norm_ == Normalize::kNone
                         ? (x - centroid_[s].row(int64_t(t))).squaredNorm()
                         : ((x - centroid_[s].row(int64_t(t))).array() * sc.array()).matrix().squaredNorm();
    if (d < best_d) best_d = d, best = k;
  }
  return candidates < 2 ? -1 : best;
}

void CentroidDecoder::test(int c, int f, const Mat& binned, const std::vector<char>& valid) {
  for (size_t j = 0; j < nb_; ++j) {
    if (!valid[j]) continue;
    const int best = classify(f, j, binned.row(int64_t(j)));
    if (best < 0) continue;
    ++tested_[j];
    correct_[j] += best == c;
  }
  if (!gen_) return;
  for (size_t t = 0; t < nb_; ++t)
    for (size_t j = 0; j < nb_; ++j) {
      if (!valid[j]) continue;
      // The diagonal repeats the loop above exactly (same centroids, scale and arithmetic).
      const int best = classify(f, t, binned.row(int64_t(j)));
      if (best < 0) continue;
      ++gen_tested_[t * nb_ + j];
      gen_correct_[t * nb_ + j] += best == c;
    }
}

Mat CentroidDecoder::generalization() const {
  if (!gen_) return Mat();
  Mat m = Mat::Constant(int64_t(nb_), int64_t(nb_), std::numeric_limits<double>::quiet_NaN());
  for (size_t i = 0; i < nb_ * nb_; ++i)
    if (gen_tested_[i] > 0) m(int64_t(i / nb_), int64_t(i % nb_)) = double(gen_correct_[i]) / double(gen_tested_[i]);
  return m;
}

Mat CentroidDecoder::generalization_n() const {
  if (!gen_) return Mat();
  Mat m = Mat::Zero(int64_t(nb_), int64_t(nb_));
  for (size_t i = 0; i < nb_ * nb_; ++i) m(int64_t(i / nb_), int64_t(i % nb_)) = double(gen_tested_[i]);
  return m;
}

std::vector<double> CentroidDecoder::accuracy() const {
  std::vector<double> a(nb_, std::numeric_limits<double>::quiet_NaN());
  for (size_t j = 0; j < nb_; ++j)
    if (tested_[j] > 0) a[j] = double(correct_[j]) / double(tested_[j]);
  return a;
}

Mat decoding_null(const std::vector<Mat>& binned, const std::vector<std::vector<char>>& valid,
                  const std::vector<int>& labels, int n_conditions, int n_folds, Normalize normalize, double soft_c,
                  int64_t n_perm, uint64_t seed) {
  const size_t n = binned.size(), nb = n ? size_t(binned[0].rows()) : 0;
  const int64_t w = n ? binned[0].cols() : 0;
  Mat out(n_perm, int64_t(nb));
  std::vector<int> perm(labels);
  std::mt19937_64 rng(seed);
  for (int64_t p = 0; p < n_perm; ++p) {
    for (size_t i = n; i > 1; --i) {
      std::uniform_int_distribution<size_t> pick(0, i - 1);
      std::swap(perm[i - 1], perm[pick(rng)]);
    }
    const std::vector<int> fold = assign_folds(perm, n_conditions, n_folds, seed);
    CentroidDecoder dec(n_conditions, n_folds, nb, w, normalize, soft_c);
    for (size_t i = 0; i < n; ++i) dec.train(perm[i], fold[i], binned[i], valid[i]);
    dec.finish_training();
    for (size_t i = 0; i < n; ++i) dec.test(perm[i], fold[i], binned[i], valid[i]);
    const std::vector<double> a = dec.accuracy();
    for (size_t j = 0; j < nb; ++j) out(p, int64_t(j)) = a[j];
  }
  return out;
}

}  // namespace rig::analysis
