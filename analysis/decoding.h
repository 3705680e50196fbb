#pragma once
// Cross-validated decoding of the condition from the population, per time bin.
//
// Classifier: nearest centroid (Euclidean, all neurons of one electrode). Trials are assigned
// to k folds stratified by condition (each condition's trials shuffled with
// std::mt19937_64(seed), then dealt round-robin). For a test trial in fold f and bin j, the
// centroid of condition c is the mean of the bin-j values of c's trials outside fold f (from
// per-fold sums accumulated in the first pass, so nothing per trial is kept); the trial is
// assigned to the nearest centroid. accuracy[j] = correct / tested over all folds; a bin of
// a test trial without data is not tested; conditions without training data in that bin are
// not candidates. Chance = 1 / (number of conditions); chance_majority = the largest
// condition's share of the decoded trials.
#include <cstdint>
#include <vector>

#include "analysis/alignment.h"

namespace rig::analysis {

// fold[i] for each label (-1 where label < 0).
std::vector<int> assign_folds(const std::vector<int>& labels, int n_conditions, int k, uint64_t seed);

class CentroidDecoder {
 public:
  CentroidDecoder(int n_conditions, int n_folds, size_t n_bins, int64_t width);
  // Pass 1: add a trial's binned values to its fold's sums.
  void train(int condition, int fold, const Mat& binned, const std::vector<char>& valid);
  // Between the passes: leave-fold-out centroids.
  void finish_training();
  // Pass 2: classify a trial's bins with the centroids that exclude its fold.
  void test(int condition, int fold, const Mat& binned, const std::vector<char>& valid);

  std::vector<double> accuracy() const;  // [n_bins]; NaN where nothing was tested
  const std::vector<int64_t>& tested() const { return tested_; }

 private:
  int C_, F_;
  size_t nb_;
  int64_t w_;
  std::vector<Mat> sum_;                     // [F*C] of [n_bins x W]
  std::vector<std::vector<int64_t>> count_;  // [F*C] of [n_bins]
  std::vector<Mat> centroid_;                // [F*C] leave-fold-out means
  std::vector<std::vector<int64_t>> has_;    // [F*C] of [n_bins]: training trials
  std::vector<int64_t> correct_, tested_;
};

}  // namespace rig::analysis
