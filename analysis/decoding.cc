#include "analysis/decoding.h"

#include <algorithm>
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

CentroidDecoder::CentroidDecoder(int n_conditions, int n_folds, size_t n_bins, int64_t width)
    : C_(n_conditions), F_(n_folds), nb_(n_bins), w_(width) {
  sum_.assign(size_t(C_ * F_), Mat::Zero(int64_t(nb_), w_));
  count_.assign(size_t(C_ * F_), std::vector<int64_t>(nb_, 0));
  correct_.assign(nb_, 0);
  tested_.assign(nb_, 0);
}

void CentroidDecoder::train(int c, int f, const Mat& binned, const std::vector<char>& valid) {
  const size_t s = size_t(f * C_ + c);
  for (size_t j = 0; j < nb_; ++j)
    if (valid[j]) {
      sum_[s].row(int64_t(j)) += binned.row(int64_t(j));
      ++count_[s][j];
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
}

void CentroidDecoder::test(int c, int f, const Mat& binned, const std::vector<char>& valid) {
  for (size_t j = 0; j < nb_; ++j) {
    if (!valid[j]) continue;
    int best = -1, candidates = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (int k = 0; k < C_; ++k) {
      const size_t s = size_t(f * C_ + k);
      if (has_[s][j] == 0) continue;
      ++candidates;
      const double d = (binned.row(int64_t(j)) - centroid_[s].row(int64_t(j))).squaredNorm();
      if (d < best_d) best_d = d, best = k;
    }
    if (candidates < 2) continue;
    ++tested_[j];
    correct_[j] += best == c;
  }
}

std::vector<double> CentroidDecoder::accuracy() const {
  std::vector<double> a(nb_, std::numeric_limits<double>::quiet_NaN());
  for (size_t j = 0; j < nb_; ++j)
    if (tested_[j] > 0) a[j] = double(correct_[j]) / double(tested_[j]);
  return a;
}

}  // namespace rig::analysis
