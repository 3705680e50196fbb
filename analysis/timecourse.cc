#include "analysis/timecourse.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <boost/math/distributions/fisher_f.hpp>

#include "analysis/stats.h"

namespace rig::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// One bin's trials with data, centred per unit, and the F thresholds by number of groups.
struct BinData {
  std::vector<int64_t> trials;
  Eigen::MatrixXd xc;        // [n_j x W]
  Eigen::RowVectorXd sst;    // [W]
  std::vector<double> crit;  // [C + 1]: F threshold with k groups (inf where undefined)
};

// Appends the clusters of one unit's F over bins (supra-threshold runs) and returns the
// largest mass (0 with none).
double runs(const Eigen::Ref<const Eigen::VectorXd>& f, const std::vector<double>& crit_of_bin, int64_t neuron,
            std::vector<Cluster>* out) {
  double best = 0, mass = 0;
  int64_t first = -1;
  const int64_t nb = f.size();
  for (int64_t j = 0; j <= nb; ++j) {
    const bool supra = j < nb && f[j] > crit_of_bin[size_t(j)];
    if (supra) {
      if (first < 0) first = j, mass = 0;
      mass += f[j];
      continue;
    }
    if (first < 0) continue;
    if (out) out->push_back(Cluster{neuron, first, j - 1, mass, kNaN});
    best = std::max(best, mass);
    first = -1;
  }
  return best;
}

}  // namespace

Timecourse timecourse(const std::vector<Mat>& binned, const std::vector<std::vector<char>>& valid,
                      const std::vector<int>& labels, int C, int ca, int cb, double cluster_alpha, int64_t n_perm,
                      uint64_t seed) {
  Timecourse r;
  const size_t N = binned.size();
  const int64_t nb = N ? binned[0].rows() : 0, W = N ? binned[0].cols() : 0;
  for (Mat* m : {&r.d_prime, &r.auc, &r.anova_f, &r.anova_p}) *m = Mat::Constant(nb, W, kNaN);
  std::vector<BinData> bins(static_cast<size_t>(nb));
  std::vector<std::vector<double>> groups(static_cast<size_t>(C));
  for (int64_t j = 0; j < nb; ++j) {
    BinData& b = bins[size_t(j)];
    for (size_t i = 0; i < N; ++i)
      if (valid[i][size_t(j)]) b.trials.push_back(int64_t(i));
    const int64_t n = int64_t(b.trials.size());
    Eigen::MatrixXd X(n, W);
    for (int64_t i = 0; i < n; ++i) X.row(i) = binned[size_t(b.trials[size_t(i)])].row(j);
    for (int64_t u = 0; u < W; ++u) {
      for (auto& g : groups) g.clear();
      for (int64_t i = 0; i < n; ++i) groups[size_t(labels[size_t(b.trials[size_t(i)])])].push_back(X(i, u));
      if (ca >= 0) {
        const auto& ga = groups[size_t(ca)];
        const auto& gb = groups[size_t(cb)];
        r.d_prime(j, u) = d_prime(moments(ga.data(), ga.size()), moments(gb.data(), gb.size()));
        r.auc(j, u) = auc(ga, gb);
      }
      const Anova a = anova_oneway(groups);
      r.anova_f(j, u) = a.f;
      r.anova_p(j, u) = a.p;
    }
    b.xc = n ? Eigen::MatrixXd(X.rowwise() - X.colwise().mean()) : X;
    b.sst = b.xc.colwise().squaredNorm();
    b.crit.assign(size_t(C) + 1, kInf);
    for (int k = 2; k <= C; ++k)
      if (n > k)
        b.crit[size_t(k)] = boost::math::quantile(
            boost::math::complement(boost::math::fisher_f(double(k - 1), double(n - k)), cluster_alpha));
  }
  // Observed clusters, with each bin's threshold for the groups it has.
  std::vector<double> crit(static_cast<size_t>(nb));
  for (int64_t j = 0; j < nb; ++j) {
    std::vector<char> has(static_cast<size_t>(C), 0);
    for (int64_t i : bins[size_t(j)].trials) has[size_t(labels[size_t(i)])] = 1;
    crit[size_t(j)] = bins[size_t(j)].crit[size_t(std::count(has.begin(), has.end(), 1))];
  }
  for (int64_t u = 0; u < W; ++u) runs(r.anova_f.col(u), crit, u, &r.clusters);

  // Permutations: F per bin and unit from the one-hot class sums of the centred values.
  r.max_mass.assign(size_t(std::max<int64_t>(0, n_perm)), 0.0);
  std::vector<int> perm(labels);
  std::mt19937_64 rng(seed);
  Mat F(nb, W);
  for (int64_t p = 0; p < n_perm; ++p) {
    for (int64_t i = int64_t(N) - 1; i > 0; --i) {
      std::uniform_int_distribution<int64_t> pick(0, i);
      std::swap(perm[size_t(i)], perm[size_t(pick(rng))]);
    }
    for (int64_t j = 0; j < nb; ++j) {
      const BinData& b = bins[size_t(j)];
      const int64_t n = int64_t(b.trials.size());
      Eigen::MatrixXd S = Eigen::MatrixXd::Zero(C, W);
      std::vector<double> cnt(static_cast<size_t>(C), 0);
      for (int64_t i = 0; i < n; ++i) {
        const int c = perm[size_t(b.trials[size_t(i)])];
        S.row(c) += b.xc.row(i);
        cnt[size_t(c)] += 1;
      }
      int k = 0;
      Eigen::RowVectorXd q = Eigen::RowVectorXd::Zero(W);
      for (int c = 0; c < C; ++c)
        if (cnt[size_t(c)] > 0) ++k, q += S.row(c).array().square().matrix() / cnt[size_t(c)];
      crit[size_t(j)] = b.crit[size_t(k)];
      for (int64_t u = 0; u < W; ++u) {
        const double ssw = b.sst[u] - q[u];
        F(j, u) = k >= 2 && n > k && ssw > 1e-13 * b.sst[u] ? (q[u] / double(k - 1)) / (ssw / double(n - k)) : kNaN;
      }
    }
    double best = 0;
    for (int64_t u = 0; u < W; ++u) best = std::max(best, runs(F.col(u), crit, u, nullptr));
    r.max_mass[size_t(p)] = best;
  }
  return r;
}

void cluster_p(std::vector<Cluster>& clusters, const std::vector<double>& max_mass) {
  for (Cluster& c : clusters) {
    if (max_mass.empty()) {
      c.p = kNaN;
      continue;
    }
    const double at = std::isinf(c.mass) ? c.mass : c.mass * (1 - 1e-10);  // the identity permutation's rounding
    int64_t ge = 0;
    for (double m : max_mass) ge += m >= at;
    c.p = double(1 + ge) / double(1 + max_mass.size());
  }
}

}  // namespace rig::analysis
