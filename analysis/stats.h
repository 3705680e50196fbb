#pragma once
// Selectivity statistics between conditions (formulas in docs/ANALYSIS.md).
//
// a, b: one value per trial (a neuron's mean over the selectivity window) in conditions A, B.
//   d'   = (mean_a - mean_b) / s_pooled,  s_pooled^2 = ((n_a-1) var_a + (n_b-1) var_b) / (n_a+n_b-2)
//          (var with n-1); NaN when s_pooled is 0 or a group has < 2 trials... see d_prime().
//   SI   = (mean_a - mean_b) / (|mean_a| + |mean_b|), in [-1, 1]; 0 when both means are 0.
//   AUC  = P(a > b) + P(a == b) / 2 (Mann-Whitney U / (n_a n_b), midranks for ties).
//   t    = Student's two-sample t with the pooled SD, two-sided p from Student's t (n_a+n_b-2).
// groups: one vector per condition (two or more).
//   one-way ANOVA: F = (SS_between / (k-1)) / (SS_within / (N-k)), p = 1 - F_cdf(F; k-1, N-k),
//   eta^2 = SS_between / SS_total.
// F and t distributions come from Boost.Math.
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace rig::analysis {

struct Moments {
  int64_t n = 0;
  double mean = 0, var = 0;  // var with n - 1 (NaN when n < 2)
};
Moments moments(const double* x, size_t n);

double d_prime(const Moments& a, const Moments& b);
double selectivity_index(double mean_a, double mean_b);
double auc(const std::vector<double>& a, const std::vector<double>& b);

struct TTest {
  double t = 0, p = 0;
};
TTest t_test_pooled(const Moments& a, const Moments& b);
// Welch's t: (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b), two-sided p from Student's t
// with the Welch-Satterthwaite df; NaN when a group has < 2 trials or both variances are 0.
TTest t_test_welch(const Moments& a, const Moments& b);

struct Anova {
  double f = 0, p = 0, eta2 = 0;
  int64_t df_between = 0, df_within = 0;
};
Anova anova_oneway(const std::vector<std::vector<double>>& groups);
// The same from each group's moments (n, mean, var): SS_within = sum (n_c - 1) var_c (groups
// with n = 0 left out, n = 1 adding nothing to SS_within); for statistics recordings.
Anova anova_from_moments(const std::vector<Moments>& groups);
// The survival function of F(d1, d2) and the two-sided p of Student's t(df), via Boost.Math.
double f_sf(double f, double d1, double d2);
double t_two_sided_p(double t, double df);

// Permutation test of the one-way ANOVA F for every column of X at once.
// X: [n_trials x n_neurons], labels[i] in [0, k). Condition labels are shuffled across trials
// (the same permutation for every neuron, Fisher-Yates driven by std::mt19937_64(seed)).
// p = (1 + #{perm: F_perm >= F_obs}) / (1 + n_perm). Uses that with fixed group sizes F grows
// with SS_between = sum_c S_c^2 / n_c (column-centred X), computed as one matrix product per
// batch of permutations.
// max_f (if given) receives, per permutation, the largest F over the columns with a finite F
// (-inf where none): the null distribution of the max statistic.
std::vector<double> permutation_p_anova(const Eigen::MatrixXd& X, const std::vector<int>& labels, int k, int64_t n_perm,
                                        uint64_t seed, std::vector<double>* max_f = nullptr);

// Family-wise corrected p by the max statistic (FieldTrip correctm = 'max'; Westfall & Young's
// single step): p_j = (1 + #{perm: max_f[perm] >= f_obs[j]}) / (1 + n_perm), NaN where f_obs
// is NaN. The family is every statistic whose maximum went into max_f.
std::vector<double> max_statistic_p(const std::vector<double>& f_obs, const std::vector<double>& max_f);

// Benjamini-Hochberg adjusted p-values (q): q_(i) = min_{j >= i} m p_(j) / j, capped at 1.
// NaN p-values are left NaN and not counted in m.
std::vector<double> bh_fdr(const std::vector<double>& p);

}  // namespace rig::analysis
