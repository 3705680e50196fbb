#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/distributions/students_t.hpp>

namespace rig::analysis {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

Moments moments(const double* x, size_t n) {
  Moments m;
  m.n = int64_t(n);
  if (n == 0) {
    m.mean = m.var = kNaN;
    return m;
  }
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  m.mean = s / double(n);
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += (x[i] - m.mean) * (x[i] - m.mean);
  m.var = n > 1 ? ss / double(n - 1) : kNaN;
  return m;
}

double d_prime(const Moments& a, const Moments& b) {
  if (a.n < 1 || b.n < 1 || a.n + b.n < 3) return kNaN;
  const double va = a.n > 1 ? a.var : 0, vb = b.n > 1 ? b.var : 0;
  const double sp2 = ((a.n - 1) * va + (b.n - 1) * vb) / double(a.n + b.n - 2);
  if (!(sp2 > 0)) return kNaN;
  return (a.mean - b.mean) / std::sqrt(sp2);
}

double selectivity_index(double ma, double mb) {
  const double den = std::abs(ma) + std::abs(mb);
  if (std::isnan(den)) return kNaN;
  return den > 0 ? (ma - mb) / den : 0.0;
}

double auc(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return kNaN;
  // A NaN has no rank: it breaks the sort's ordering and the tie loop below never passes it
  // (NaN == NaN is false). A unit with a NaN trial gets AUC NaN, like its d' and t.
  for (const auto* g : {&a, &b})
    for (double x : *g)
      if (std::isnan(x)) return kNaN;
  // Rank the pooled values (midranks for ties); U_a = R_a - n_a (n_a + 1) / 2.
  std::vector<std::pair<double, bool>> v;
  v.reserve(a.size() + b.size());
  for (double x : a) v.emplace_back(x, true);
  for (double x : b) v.emplace_back(x, false);
  std::sort(v.begin(), v.end(), [](const auto& p, const auto& q) { return p.first < q.first; });
  double ra = 0;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j < v.size() && v[j].first == v[i].first) ++j;
    const double rank = 0.5 * double(i + 1 + j);  // mean of ranks i+1..j
    for (size_t k = i; k < j; ++k)
      if (v[k].second) ra += rank;
    i = j;
  }
  const double na = double(a.size()), nb = double(b.size());
  return (ra - na * (na + 1) / 2) / (na * nb);
}

double f_sf(double f, double d1, double d2) {
  if (std::isnan(f) || d1 <= 0 || d2 <= 0) return kNaN;
  if (std::isinf(f)) return 0.0;
  boost::math::fisher_f dist(d1, d2);
  return boost::math::cdf(boost::math::complement(dist, f));
}

double t_two_sided_p(double t, double df) {
  if (std::isnan(t) || df <= 0) return kNaN;
  if (std::isinf(t)) return 0.0;
  boost::math::students_t dist(df);
  return 2 * boost::math::cdf(boost::math::complement(dist, std::abs(t)));
}

TTest t_test_pooled(const Moments& a, const Moments& b) {
  TTest r{kNaN, kNaN};
  const double d = d_prime(a, b);
  if (std::isnan(d)) return r;
  r.t = d / std::sqrt(1.0 / double(a.n) + 1.0 / double(b.n));
  r.p = t_two_sided_p(r.t, double(a.n + b.n - 2));
  return r;
}

TTest t_test_welch(const Moments& a, const Moments& b) {
  TTest r{kNaN, kNaN};
  if (a.n < 2 || b.n < 2) return r;
  const double sa = a.var / double(a.n), sb = b.var / double(b.n), se2 = sa + sb;
  if (!(se2 > 0)) return r;
  r.t = (a.mean - b.mean) / std::sqrt(se2);
  const double df = se2 * se2 / (sa * sa / double(a.n - 1) + sb * sb / double(b.n - 1));
  r.p = t_two_sided_p(r.t, df);
  return r;
}

Anova anova_from_moments(const std::vector<Moments>& groups) {
  Anova r{kNaN, kNaN, kNaN, 0, 0};
  int64_t n = 0, k = 0;
  double sum = 0;
  for (const auto& g : groups) {
    if (g.n == 0) continue;
    ++k;
    n += g.n;
    sum += double(g.n) * g.mean;
  }
  if (k < 2 || n <= k) return r;
  const double grand = sum / double(n);
  double ssb = 0, ssw = 0;
  for (const auto& g : groups) {
    if (g.n == 0) continue;
    ssb += double(g.n) * (g.mean - grand) * (g.mean - grand);
    if (g.n > 1) ssw += double(g.n - 1) * g.var;
  }
  r.df_between = k - 1;
  r.df_within = n - k;
  const double sst = ssb + ssw;
  r.eta2 = sst > 0 ? ssb / sst : kNaN;
  if (ssw > 0) {
    r.f = (ssb / double(r.df_between)) / (ssw / double(r.df_within));
  } else {
    r.f = ssb > 0 ? std::numeric_limits<double>::infinity() : kNaN;
  }
  r.p = f_sf(r.f, double(r.df_between), double(r.df_within));
  return r;
}

Anova anova_oneway(const std::vector<std::vector<double>>& groups) {
  std::vector<Moments> m;
  for (const auto& g : groups) m.push_back(g.empty() ? Moments{} : moments(g.data(), g.size()));
  return anova_from_moments(m);
}

std::vector<double> permutation_p_anova(const Eigen::MatrixXd& X, const std::vector<int>& labels, int k, int64_t n_perm,
                                        uint64_t seed, std::vector<double>* max_f) {
  const int64_t n = X.rows(), w = X.cols();
  std::vector<double> p(size_t(w), kNaN);
  if (max_f) max_f->assign(size_t(std::max<int64_t>(0, n_perm)), -std::numeric_limits<double>::infinity());
  if (n_perm <= 0 || n < 2) return p;
  std::vector<double> count(size_t(k), 0);
  for (int l : labels) count[size_t(l)] += 1;
  int nonempty = 0;
  for (double c : count) nonempty += c > 0;
  if (nonempty < 2) return p;
  const Eigen::MatrixXd Xc = X.rowwise() - X.colwise().mean();
  // Q(labels) = sum_c S_c^2 / n_c per column, S = G Xc with G the one-hot [k x n].
  auto q_of = [&](const Eigen::MatrixXd& S, int64_t block) {
    Eigen::RowVectorXd q = Eigen::RowVectorXd::Zero(w);
    for (int c = 0; c < k; ++c)
      if (count[size_t(c)] > 0) q += S.row(block * k + c).array().square().matrix() / count[size_t(c)];
    return q;
  };
  const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(n_perm, 64 / std::max(1, k) + 1));
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(k, n);
  for (int64_t i = 0; i < n; ++i) G(labels[size_t(i)], i) = 1;
  const Eigen::RowVectorXd q_obs = q_of(G * Xc, 0);
  // Ties: permutations that merely reorder equal-sized groups give the same Q up to rounding.
  const Eigen::RowVectorXd tol = q_obs.array().abs() * 1e-10 + 1e-300;
  // For the max statistic: F = (Q / (k' - 1)) / ((SST - Q) / (n - k')) per column.
  const Eigen::RowVectorXd sst = Xc.colwise().squaredNorm();
  std::vector<char> finite(static_cast<size_t>(w));
  for (int64_t c = 0; c < w; ++c) finite[size_t(c)] = X.col(c).allFinite() && sst[c] > 0;
  const double df_b = double(nonempty - 1), df_w = double(n - nonempty);
  auto f_of = [&](double q, int64_t c) {
    const double ssw = sst[c] - q;
    if (!(ssw > 1e-13 * sst[c])) return q > 0 ? std::numeric_limits<double>::infinity() : kNaN;
    return (q / df_b) / (ssw / df_w);
  };
  std::vector<int> perm(labels);
  std::mt19937_64 rng(seed);
  Eigen::RowVectorXd ge = Eigen::RowVectorXd::Zero(w);
  Eigen::MatrixXd Gb(batch * k, n);
  for (int64_t done = 0; done < n_perm;) {
    const int64_t b = std::min(batch, n_perm - done);
    Gb.setZero(b * k, n);
    for (int64_t j = 0; j < b; ++j) {
      for (int64_t i = n - 1; i > 0; --i) {
        std::uniform_int_distribution<int64_t> pick(0, i);
        std::swap(perm[size_t(i)], perm[size_t(pick(rng))]);
      }
      for (int64_t i = 0; i < n; ++i) Gb(j * k + perm[size_t(i)], i) = 1;
    }
    const Eigen::MatrixXd S = Gb * Xc;
    for (int64_t j = 0; j < b; ++j) {
      const Eigen::RowVectorXd q = q_of(S, j);
      ge.array() += (q.array() >= (q_obs - tol).array()).cast<double>();
      if (max_f && df_w > 0)
        for (int64_t c = 0; c < w; ++c)
          if (finite[size_t(c)]) {
            const double f = f_of(q[c], c);
            if (f > (*max_f)[size_t(done + j)]) (*max_f)[size_t(done + j)] = f;
          }
    }
    done += b;
  }
  // A column with a NaN or infinity has no F to compare (every comparison is false): its p
  // is NaN, not the 1 / (1 + n_perm) that counting would give.
  for (int64_t c = 0; c < w; ++c)
    if (X.col(c).allFinite()) p[size_t(c)] = (1 + ge[c]) / double(1 + n_perm);
  return p;
}

std::vector<double> max_statistic_p(const std::vector<double>& f_obs, const std::vector<double>& max_f) {
  std::vector<double> p(f_obs.size(), kNaN);
  if (max_f.empty()) return p;
  std::vector<double> sorted(max_f);
  std::sort(sorted.begin(), sorted.end());
  for (size_t j = 0; j < f_obs.size(); ++j) {
    if (std::isnan(f_obs[j])) continue;
    // The identity permutation gives F_obs again up to rounding: count it as reached.
    const double at = std::isinf(f_obs[j]) ? f_obs[j] : f_obs[j] - std::abs(f_obs[j]) * 1e-10;
    const auto ge = sorted.end() - std::lower_bound(sorted.begin(), sorted.end(), at);
    p[j] = double(1 + ge) / double(1 + max_f.size());
  }
  return p;
}

std::vector<double> bh_fdr(const std::vector<double>& p) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) idx.push_back(i);
  std::vector<double> q(p.size(), kNaN);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  const double m = double(idx.size());
  double running = 1.0;
  for (size_t r = idx.size(); r-- > 0;) {
    running = std::min(running, p[idx[r]] * m / double(r + 1));
    q[idx[r]] = running;
  }
  return q;
}

}  // namespace rig::analysis
