// The selectivity statistics against values computed by hand and by scipy (stated per case).
#include <cmath>
#include <limits>
#include <vector>

#include "analysis/alignment.h"
#include "analysis/pca.h"
#include "analysis/psth.h"
#include "analysis/stats.h"
#include "catch.h"

using namespace rig::analysis;

namespace {
bool near(double a, double b, double rel = 1e-10) { return std::abs(a - b) <= rel * std::max(1.0, std::abs(b)); }
}  // namespace

TEST_CASE("d' uses the pooled SD, SI and AUC their formulas") {
  const std::vector<double> a = {1, 2, 3, 4}, b = {2, 4, 6};
  const Moments ma = moments(a.data(), a.size()), mb = moments(b.data(), b.size());
  REQUIRE(near(ma.mean, 2.5));
  REQUIRE(near(ma.var, 5.0 / 3));
  // s_p^2 = (3 * 5/3 + 2 * 4) / 5 = 13/5
  REQUIRE(near(d_prime(ma, mb), (2.5 - 4) / std::sqrt(13.0 / 5)));
  REQUIRE(near(selectivity_index(2.5, 4), -1.5 / 6.5));
  REQUIRE(selectivity_index(0, 0) == 0);
  // Pairs (a > b) + 0.5 (a == b): a=3>2, a=4>2, ties 2==2, 4==4 -> (2 + 0.5 * 2) / 12
  REQUIRE(near(auc(a, b), 3.0 / 12));
  REQUIRE(near(auc({5, 6}, {1, 2}), 1.0));
  REQUIRE(std::isnan(d_prime(moments(a.data(), 1), moments(b.data(), 1))));
}

TEST_CASE("Student's t and its p match scipy.stats.ttest_ind") {
  const std::vector<double> a = {1, 2, 3, 4}, b = {2, 4, 6};
  const TTest t = t_test_pooled(moments(a.data(), 4), moments(b.data(), 3));
  // scipy.stats.ttest_ind([1,2,3,4], [2,4,6]): t = -1.2179969144117253, p = 0.2775605199635172
  REQUIRE(near(t.t, -1.5 / std::sqrt(13.0 / 5) / std::sqrt(1.0 / 4 + 1.0 / 3)));
  REQUIRE(near(t.t, -1.2179969144117253));
  REQUIRE(near(t.p, 0.2775605199635172, 1e-9));
  REQUIRE(near(t_two_sided_p(0, 10), 1.0));
  REQUIRE(std::abs(t_two_sided_p(2.228138851986274, 10) - 0.05) < 1e-9);  // t_{0.975, 10}
}

TEST_CASE("one-way ANOVA matches scipy.stats.f_oneway") {
  // f_oneway([1,2,3],[4,5,6],[7,8,9.5]): SSB = 3*((2-5.0556)^2+(5-5.0556)^2+(8.1667-5.0556)^2)
  const std::vector<std::vector<double>> g = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9.5}};
  const Anova r = anova_oneway(g);
  const double grand = (6 + 15 + 24.5) / 9.0;
  const double ssb = 3 * (std::pow(2 - grand, 2) + std::pow(5 - grand, 2) + std::pow(24.5 / 3 - grand, 2));
  const double ssw = 2 + 2 + (std::pow(7 - 24.5 / 3, 2) + std::pow(8 - 24.5 / 3, 2) + std::pow(9.5 - 24.5 / 3, 2));
  REQUIRE(r.df_between == 2);
  REQUIRE(r.df_within == 6);
  REQUIRE(near(r.f, (ssb / 2) / (ssw / 6)));
  REQUIRE(near(r.eta2, ssb / (ssb + ssw)));
  REQUIRE(near(r.f, 23.883720930232542));  // scipy.stats.f_oneway
  REQUIRE(near(r.p, 0.0013896186324728918, 1e-9));
  // F_{0.95}(2, 6) = 5.143252849784718: the survival function there is 0.05.
  REQUIRE(std::abs(f_sf(5.143252849784718, 2, 6) - 0.05) < 1e-9);
  // Constant groups: no within variance -> F infinite, p 0; identical groups: F 0, p 1.
  REQUIRE(anova_oneway({{1, 1}, {2, 2}}).p == 0);
  REQUIRE(near(anova_oneway({{1, 2}, {1, 2}}).p, 1.0));
}

TEST_CASE("Benjamini-Hochberg q-values") {
  // By hand: sorted p = .01 .02 .03 .04 .5, m = 5: m p / rank = .05 .05 .05 .05 .5
  const auto q = bh_fdr({0.04, 0.01, 0.5, 0.03, 0.02});
  const std::vector<double> want = {0.05, 0.05, 0.5, 0.05, 0.05};
  for (size_t i = 0; i < q.size(); ++i) REQUIRE(near(q[i], want[i]));
  // Monotone step-up: q = min over later ranks; NaN stays NaN and is not counted.
  const auto q2 = bh_fdr({0.001, NAN, 0.04, 0.045});
  REQUIRE(near(q2[0], 0.003));
  REQUIRE(std::isnan(q2[1]));
  REQUIRE(near(q2[2], 0.045));
  REQUIRE(near(q2[3], 0.045));
}

TEST_CASE("permutation p: separated groups reach the minimum, identical columns agree, seeds repeat") {
  Eigen::MatrixXd X(20, 2);
  std::vector<int> labels;
  for (int i = 0; i < 20; ++i) {
    labels.push_back(i % 2);
    X(i, 0) = (i % 2) * 10 + 0.01 * i;  // perfectly separated
    X(i, 1) = (i * 7919) % 13;          // unrelated to the label
  }
  const auto p = permutation_p_anova(X, labels, 2, 199, 42);
  REQUIRE(near(p[0], 1.0 / 200));
  REQUIRE(p[1] > 0.05);
  REQUIRE(permutation_p_anova(X, labels, 2, 199, 42) == p);
}

TEST_CASE("smoothing kernels and masked binning") {
  int64_t first = 0;
  auto k = smoothing_kernel(Smoothing::kBoxcar, 4, first);
  REQUIRE(k.size() == 4);
  REQUIRE(first == -1);
  k = smoothing_kernel(Smoothing::kGaussian, 1.0, first);
  REQUIRE(k.size() == 7);
  REQUIRE(first == -3);
  REQUIRE(near(k[2], std::exp(-0.5)));

  // One trial with rows 10..13 (4 rows), event at row 11, pre 2, post 3, bin 2:
  // aligned offsets -2..3; rows exist for offsets -1..2. Bins: [-2,-1] [0,1] [2,3].
  Alignment al;
  al.pre = 2, al.post = 3, al.bin = 2;
  al.bin_start = {-2, 0, 2};
  al.bin_stop = {0, 2, 4};
  AnalysisConfig cfg;
  cfg.pre = 2, cfg.post = 3, cfg.bin = 2;
  cfg.window_set = true, cfg.window_start = 0, cfg.window_stop = 3;
  Binner b(al, cfg);
  const float rows[] = {1, 10, 2, 20, 3, 30, 4, 40};  // rows 10..13, width 2
  AlignedTrial t{0, 0, 11, 10, 14};
  Mat binned;
  std::vector<char> valid;
  b.bin(rows, 10, 2, t, binned, valid);
  REQUIRE(valid == std::vector<char>{1, 1, 1});
  REQUIRE(binned(0, 0) == 1);   // only offset -1 has data
  REQUIRE(binned(1, 1) == 25);  // mean of 20 and 30
  REQUIRE(binned(2, 0) == 4);   // offset 3 is past the trial: masked, not zero
  double w[2];
  REQUIRE(b.window_mean(rows, 10, 2, t, w));
  REQUIRE(w[0] == 3);  // offsets 0..2 -> rows 11..13: (2 + 3 + 4) / 3

  // A trial whose rows start at the event: the first bin has no data.
  AlignedTrial late{0, 0, 10, 10, 14};
  b.bin(rows, 10, 2, late, binned, valid);
  REQUIRE(valid[0] == 0);
  REQUIRE(std::isnan(binned(0, 0)));
}

TEST_CASE("PSTH accumulator: Welford mean/SD/SEM with masked bins") {
  PsthAccumulator acc(1, 2, 1);
  Mat x(2, 1);
  for (double v : {1.0, 2.0, 4.0}) {
    x << v, v;
    acc.add(0, x, {1, char(v != 4.0)});
  }
  const Psth p = acc.result(0);
  REQUIRE(p.n == std::vector<int64_t>{3, 2});
  REQUIRE(near(p.mean(0, 0), 7.0 / 3));
  REQUIRE(near(p.sd(0, 0),
               std::sqrt((std::pow(1 - 7.0 / 3, 2) + std::pow(2 - 7.0 / 3, 2) + std::pow(4 - 7.0 / 3, 2)) / 2)));
  REQUIRE(near(p.sem(1, 0), std::sqrt(0.5) / std::sqrt(2.0)));
}

TEST_CASE("PCA of condition averages: a rank-1 trajectory has all variance in PC1") {
  Mat a(4, 3), b(4, 3);
  for (int j = 0; j < 4; ++j) {
    a.row(j) << j, 2 * j, 0;
    b.row(j) << -j, -2 * j, 0;
  }
  const PcaResult r = pca_condition_averages({a, b}, 2);
  REQUIRE(near(r.explained_variance_ratio[0], 1.0));
  REQUIRE(std::abs(r.explained_variance_ratio[1]) < 1e-12);
  REQUIRE(near(std::abs(r.components(0, 1)), 2 / std::sqrt(5.0)));
  REQUIRE(r.components(0, 1) > 0);  // sign: largest loading positive
}

TEST_CASE("a unit with NaN or infinite trials gets NaN statistics, never a hang") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // auc() used to loop for ever here: its tie loop never passes a NaN.
  REQUIRE(std::isnan(auc({1, nan, 3}, {2, 4})));
  REQUIRE(std::isnan(auc({nan, nan}, {nan})));
  REQUIRE(near(auc({inf, 1}, {0, -inf}), 1.0));  // infinities still rank
  Eigen::MatrixXd X(6, 2);
  X << 1, 1, 2, nan, 3, 3, 7, 7, 8, 8, 9, 9;
  const auto p = permutation_p_anova(X, {0, 0, 0, 1, 1, 1}, 2, 50, 1);
  REQUIRE(p[0] > 0);
  REQUIRE(std::isnan(p[1]));  // not 1/(1+n): no F exists to compare
}
