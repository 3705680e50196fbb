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
//
// Normalisation (zscore, soft) is a per-unit scale fitted, for each fold and bin, on that
// fold's training trials only (all conditions pooled), as a scaler inside sklearn's
// cross-validation pipeline: zscore 1/SD (SD with n, 1 where 0), soft 1/(max - min + c).
// Distances are taken between scaled values (a shift cancels in the distance, so none is
// applied). With generalization, the centroids and scale of train bin t also classify every
// test bin t' (MNE's GeneralizingEstimator): matrix[t][t'], whose diagonal is accuracy().
#include <cstdint>
#include <vector>

#include "analysis/alignment.h"
#include "analysis/analysis_config.h"

namespace rig::analysis {

// fold[i] for each label (-1 where label < 0).
std::vector<int> assign_folds(const std::vector<int>& labels, int n_conditions, int k, uint64_t seed);

class CentroidDecoder {
 public:
  CentroidDecoder(int n_conditions, int n_folds, size_t n_bins, int64_t width, Normalize normalize = Normalize::kNone,
                  double soft_c = 5, bool generalization = false);
  // Pass 1: add a trial's binned values to its fold's sums.
  void train(int condition, int fold, const Mat& binned, const std::vector<char>& valid);
  // Between the passes: leave-fold-out centroids.
  void finish_training();
  // Pass 2: classify a trial's bins with the centroids that exclude its fold.
  void test(int condition, int fold, const Mat& binned, const std::vector<char>& valid);

  std::vector<double> accuracy() const;  // [n_bins]; NaN where nothing was tested
  const std::vector<int64_t>& tested() const { return tested_; }
  Mat generalization() const;    // [train bin x test bin]; empty without generalization
  Mat generalization_n() const;  // tested trial-bins per cell

 private:
  int C_, F_;
  size_t nb_;
  int64_t w_;
  std::vector<Mat> sum_;                     // [F*C] of [n_bins x W]
  std::vector<std::vector<int64_t>> count_;  // [F*C] of [n_bins]
  std::vector<Mat> centroid_;                // [F*C] leave-fold-out means
  std::vector<std::vector<int64_t>> has_;    // [F*C] of [n_bins]: training trials
  std::vector<int64_t> correct_, tested_;
  // Normalisation: per fold, sums of (x - shift) and its square, min and max, over the fold's
  // trials; then the leave-fold-out scale [F] of [n_bins x W].
  Normalize norm_;
  double soft_c_;
  Mat shift_;
  std::vector<char> shift_set_;
  std::vector<Mat> d1_, d2_, mn_, mx_, scale_;
  bool gen_;
  std::vector<int64_t> gen_correct_, gen_tested_;  // [train bin * n_bins + test bin]
  // The nearest candidate condition for row x with train bin t of fold f; -1 with < 2 candidates.
  int classify(int f, size_t t, const Eigen::Ref<const Eigen::RowVectorXd>& x) const;
};

// The label-permutation null of the cross-validated accuracy (sklearn's permutation_test_score,
// per bin): condition labels shuffled across trials (Fisher-Yates on std::mt19937_64(seed)),
// folds dealt again on the shuffled labels (assign_folds with `seed`), the same decoder run.
// binned/valid: every included trial's bins. Returns [n_perm x n_bins] accuracies.
Mat decoding_null(const std::vector<Mat>& binned, const std::vector<std::vector<char>>& valid,
                  const std::vector<int>& labels, int n_conditions, int n_folds, Normalize normalize, double soft_c,
                  int64_t n_perm, uint64_t seed);

}  // namespace rig::analysis
