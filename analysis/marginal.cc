#include "analysis/marginal.h"

#include <cmath>
#include <limits>

namespace rig::analysis {

Marginalization marginalize(const std::vector<Mat>& means, const Alignment& al,
                            const std::vector<std::string>& fields) {
  Marginalization m;
  const bool two = fields.size() == 2;
  m.terms = {"time", fields.at(0)};
  m.parts = {"t", "a", "ta"};
  if (two) {
    m.terms.push_back(fields[1]);
    m.terms.push_back(fields[0] + ":" + fields[1]);
    m.parts = {"t", "a", "b", "ta", "tb", "ab", "tab"};
  }
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  m.fraction.assign(m.terms.size(), kNaN);
  m.part_fraction.assign(m.parts.size(), kNaN);
  const size_t A = al.levels.at(0).size(), B = two ? al.levels.at(1).size() : 1;
  // The grid: cell (a, b) -> condition, -1 = none.
  std::vector<int> cell(A * B, -1);
  for (size_t c = 0; c < means.size() && c < al.condition_levels.size(); ++c) {
    const auto& l = al.condition_levels[c];
    if (l[0] < 0 || size_t(l[0]) >= A || (two && (l[1] < 0 || size_t(l[1]) >= B))) continue;
    cell[size_t(l[0]) * B + (two ? size_t(l[1]) : 0)] = int(c);
  }
  for (int c : cell)
    if (c < 0 || A * B < 2) return m;
  const int64_t W = means.empty() ? 0 : means[0].cols();
  std::vector<int64_t> bins;  // where every cell has data
  for (int64_t j = 0; j < means[0].rows(); ++j) {
    bool ok = true;
    for (int c : cell) ok &= means[size_t(c)].row(j).allFinite();
    if (ok) bins.push_back(j);
  }
  m.bins_used = int64_t(bins.size());
  if (bins.empty() || W == 0) return m;
  const size_t T = bins.size();
  // Per neuron: X[t][a][b], centred; the marginal averages; the sums of squares of each part
  // (each broadcast over the axes it does not depend on).
  std::vector<double> ss(m.parts.size(), 0.0);
  double total = 0;
  std::vector<double> x(T * A * B), mt(T), ma(A), mb(B), mta(T * A), mtb(T * B), mab(A * B);
  auto at = [&](size_t t, size_t a, size_t b) -> double& { return x[(t * A + a) * B + b]; };
  for (int64_t n = 0; n < W; ++n) {
    double mu = 0;
    for (size_t t = 0; t < T; ++t)
      for (size_t a = 0; a < A; ++a)
        for (size_t b = 0; b < B; ++b) mu += at(t, a, b) = means[size_t(cell[a * B + b])](bins[t], n);
    mu /= double(T * A * B);
    std::fill(mt.begin(), mt.end(), 0.0), std::fill(ma.begin(), ma.end(), 0.0), std::fill(mb.begin(), mb.end(), 0.0);
    std::fill(mta.begin(), mta.end(), 0.0), std::fill(mtb.begin(), mtb.end(), 0.0),
        std::fill(mab.begin(), mab.end(), 0.0);
    for (size_t t = 0; t < T; ++t)
      for (size_t a = 0; a < A; ++a)
        for (size_t b = 0; b < B; ++b) {
          const double v = at(t, a, b) -= mu;
          total += v * v;
          mt[t] += v / double(A * B), ma[a] += v / double(T * B), mb[b] += v / double(T * A);
          mta[t * A + a] += v / double(B), mtb[t * B + b] += v / double(A), mab[a * B + b] += v / double(T);
        }
    // Interactions: the average over the other axes less its lower-order parts.
    for (size_t t = 0; t < T; ++t)
      for (size_t a = 0; a < A; ++a) mta[t * A + a] -= mt[t] + ma[a];
    for (size_t t = 0; t < T; ++t)
      for (size_t b = 0; b < B; ++b) mtb[t * B + b] -= mt[t] + mb[b];
    for (size_t a = 0; a < A; ++a)
      for (size_t b = 0; b < B; ++b) mab[a * B + b] -= ma[a] + mb[b];
    for (size_t t = 0; t < T; ++t)
      for (size_t a = 0; a < A; ++a)
        for (size_t b = 0; b < B; ++b) {
          const double tab = at(t, a, b) - mt[t] - ma[a] - mb[b] - mta[t * A + a] - mtb[t * B + b] - mab[a * B + b];
          if (two) {
            const double v[7] = {mt[t], ma[a], mb[b], mta[t * A + a], mtb[t * B + b], mab[a * B + b], tab};
            for (size_t k = 0; k < 7; ++k) ss[k] += v[k] * v[k];
          } else {  // b is one level: mb, mtb, mab are 0 and tab is ta's rounding
            const double v[3] = {mt[t], ma[a], mta[t * A + a] + tab};
            for (size_t k = 0; k < 3; ++k) ss[k] += v[k] * v[k];
          }
        }
  }
  m.total = total;
  if (!(total > 0)) return m;
  for (size_t k = 0; k < ss.size(); ++k) m.part_fraction[k] = ss[k] / total;
  const auto& f = m.part_fraction;
  if (two) m.fraction = {f[0], f[1] + f[3], f[2] + f[4], f[5] + f[6]};
  else m.fraction = {f[0], f[1] + f[2]};
  return m;
}

}  // namespace rig::analysis
