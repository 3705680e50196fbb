// Family-wise error control of the max-statistic permutation p (FieldTrip correctm = 'max') on
// null data, in process: 2000 datasets of 30 trials (3 conditions) x 8 units of Gaussian noise,
// 99 permutations each. The rate of datasets with any unit at p <= 0.05 must lie inside the
// binomial 99% interval around 0.05; the uncorrected per-unit permutation p must not.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <boost/math/distributions/binomial.hpp>

#include "analysis/stats.h"
#include "analysis/timecourse.h"
#include "catch.h"

using namespace rig::analysis;

TEST_CASE("max-statistic p holds the family-wise error rate at alpha on null data") {
  const int datasets = 2000, n = 30, k = 3, w = 8, perms = 99;
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> noise(0, 1);
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) labels[size_t(i)] = i % k;
  int any_max = 0, any_raw = 0;
  for (int d = 0; d < datasets; ++d) {
    Eigen::MatrixXd X(n, w);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < w; ++j) X(i, j) = noise(rng) * (1 + j);  // units of different scales
    std::vector<double> max_f;
    const std::vector<double> p = permutation_p_anova(X, labels, k, perms, uint64_t(d), &max_f);
    std::vector<double> f(static_cast<size_t>(w));
    for (int j = 0; j < w; ++j) {
      std::vector<std::vector<double>> groups(static_cast<size_t>(k));
      for (int i = 0; i < n; ++i) groups[size_t(labels[size_t(i)])].push_back(X(i, j));
      f[size_t(j)] = anova_oneway(groups).f;
    }
    const std::vector<double> pm = max_statistic_p(f, max_f);
    REQUIRE(max_f.size() == size_t(perms));
    for (int j = 0; j < w; ++j) REQUIRE(pm[size_t(j)] >= p[size_t(j)] - 1e-12);  // max null dominates
    any_max += *std::min_element(pm.begin(), pm.end()) <= 0.05;
    any_raw += *std::min_element(p.begin(), p.end()) <= 0.05;
  }
  const boost::math::binomial_distribution<double> b(datasets, 0.05);
  const double lo = boost::math::quantile(b, 0.005), hi = boost::math::quantile(b, 0.995);
  INFO("family-wise false positives: max-statistic " << any_max << "/" << datasets << ", uncorrected " << any_raw
                                                     << ", 99% interval [" << lo << ", " << hi << "]");
  CHECK(any_max >= lo);
  CHECK(any_max <= hi);
  CHECK(any_raw > hi);  // without the correction 8 units inflate it (expected 1 - 0.95^8 = 0.34)
}

TEST_CASE("max-statistic p counts the permutations whose max reaches the observed statistic") {
  const std::vector<double> max_f = {1, 2, 3, 4};
  const std::vector<double> p = max_statistic_p({0.5, 3, 10, std::numeric_limits<double>::quiet_NaN()}, max_f);
  CHECK(p[0] == Approx(5.0 / 5));
  CHECK(p[1] == Approx(3.0 / 5));  // 3 and 4 reach 3
  CHECK(p[2] == Approx(1.0 / 5));
  CHECK(std::isnan(p[3]));
}

TEST_CASE("cluster-mass permutation holds the family-wise error rate at alpha on null data") {
  // 1000 null datasets: 24 trials (2 conditions) x 6 bins x 5 units, smooth in time (each
  // trial's bins share a random offset, so neighbouring bins correlate as real responses do),
  // 99 permutations; a false positive is any cluster with p <= 0.05.
  const int datasets = 1000, n = 24, nb = 6, w = 5, perms = 99;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) labels[size_t(i)] = i % 2;
  int fp = 0, clusters = 0;
  for (int d = 0; d < datasets; ++d) {
    std::vector<Mat> binned;
    std::vector<std::vector<char>> valid;
    for (int i = 0; i < n; ++i) {
      Mat x(nb, w);
      for (int u = 0; u < w; ++u) {
        const double offset = noise(rng);
        for (int j = 0; j < nb; ++j) x(j, u) = offset + 0.7 * noise(rng);
      }
      binned.push_back(x);
      valid.emplace_back(size_t(nb), 1);
    }
    Timecourse t = timecourse(binned, valid, labels, 2, 0, 1, 0.05, perms, uint64_t(d));
    cluster_p(t.clusters, t.max_mass);
    clusters += !t.clusters.empty();
    bool any = false;
    for (const Cluster& c : t.clusters) any |= c.p <= 0.05;
    fp += any;
  }
  const boost::math::binomial_distribution<double> b(datasets, 0.05);
  const double lo = boost::math::quantile(b, 0.005), hi = boost::math::quantile(b, 0.995);
  INFO("family-wise false positives (cluster): " << fp << "/" << datasets << " (uncorrected, any supra-threshold bin: "
                                                 << clusters << "), 99% interval [" << lo << ", " << hi << "]");
  CHECK(fp >= lo);
  CHECK(fp <= hi);
  CHECK(clusters > 2 * hi);  // the threshold alone rejects far more often
}
