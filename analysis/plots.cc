#include "analysis/plots.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "analysis/canvas.h"
#include "core/error.h"
#include "recording/reader.h"

namespace rig::analysis {
namespace {

using namespace canvas;

// Heatmap of values [neurons x time] with time axis from t0 to t1 (cell edges).
void heatmap(const Mat& neurons_by_time, double t0, double t1, const std::string& title, const std::string& xlabel,
             const std::vector<std::pair<double, std::string>>& xticks, const std::filesystem::path& out) {
  std::vector<double> all(neurons_by_time.data(), neurons_by_time.data() + neurons_by_time.size());
  double lo = percentile(all, 0.01), hi = percentile(all, 0.99);
  if (std::isnan(lo)) lo = 0, hi = 1;
  if (!(hi > lo)) hi = lo + 1;
  Figure f(out, 1000, 640);
  Axes a{90, 50, 760, 500, t0, t1, double(neurons_by_time.rows()), 0};
  paint_matrix(f, a, neurons_by_time, kViridis, lo, hi);
  // Neuron 0 at the top: the y axis runs downwards.
  std::vector<std::pair<double, std::string>> yt;
  for (double v : nice_ticks(0, double(neurons_by_time.rows()) - 1)) yt.emplace_back(v + 0.5, fmt(v));
  Axes ya = a;
  ya.y0 = double(neurons_by_time.rows());
  ya.y1 = 0;
  draw_axes(f, ya, xlabel, "neuron (column)", yt, xticks);
  colorbar(f, kViridis, 880, 50, 22, 500, lo, hi, "activation");
  f.text(title, 500, 18, 15, 0.5, 0, 0, true);
  f.save();
}

}  // namespace

void plot_heatmap_mean(const Results& r, size_t site, int condition, const std::filesystem::path& out) {
  const SiteResult& s = r.sites.at(site);
  const Psth& p = s.psth.at(size_t(condition));
  const double t0 = double(r.bin_start.front()), t1 = double(r.bin_stop.back());
  // Cells span their bins' rows; ticks at offsets.
  Mat m = p.mean.transpose();  // [W x n_bins]
  int64_t n = 0;
  for (auto v : p.n) n = std::max(n, v);
  heatmap(m, t0, t1,
          s.key() + " \xe2\x80\x94 " + r.conditions[size_t(condition)] + ": mean over " + std::to_string(n) + " trials",
          "rows from " + r.event + " (bin " + std::to_string(r.bin) + ")", {}, out);
}

void plot_heatmap_trial(const RecordingReader& rec, size_t electrode, size_t trial, const std::filesystem::path& out) {
  const auto& trials = rec.trials();
  if (trial >= trials.size())
    throw DataError(rec.path().string() + ": trial " + std::to_string(trial) + " is not in the file (it has " +
                    std::to_string(trials.size()) + " committed trials)");
  const TrialRow& t = trials[trial];
  const ElectrodeSpec& e = rec.electrodes().at(electrode);
  const int64_t W = e.width(), T = t.n_rows();
  const std::vector<float> x = rec.read_rows(electrode, t.row_start, t.row_stop);
  Mat m(W, T);
  for (int64_t r = 0; r < T; ++r)
    for (int64_t j = 0; j < W; ++j) m(j, r) = x[size_t(r * W + j)];
  std::vector<std::pair<double, std::string>> xt;
  if (T <= 24) {
    const auto toks = rec.tokens(t.row_start, t.row_stop);
    for (int64_t r = 0; r < T; ++r) {
      std::string s = toks[size_t(r)].text;
      for (char& c : s)
        if (c == '\n') c = ' ';
      if (s.size() > 8) s = s.substr(0, 7) + "~";
      xt.emplace_back(double(r) + 0.5, s);
    }
  }
  heatmap(m, 0, double(T),
          e.dataset_path().substr(12) + " \xe2\x80\x94 trial " + std::to_string(t.index) + " (" + t.condition + ")",
          xt.empty() ? "row within the trial" : "token (row within the trial)", xt, out);
}

void plot_psth(const Results& r, size_t site, const std::vector<int64_t>& columns, const std::vector<int>& conditions,
               const std::filesystem::path& out) {
  const SiteResult& s = r.sites.at(site);
  if (columns.empty()) throw ConfigError("plot psth: no neurons chosen");
  for (auto c : columns)
    if (c < 0 || c >= s.width())
      throw DataError(s.key() + ": neuron column " + std::to_string(c) + " is out of range (width " +
                      std::to_string(s.width()) + ")");
  const int n = int(columns.size());
  const int cols = n <= 2 ? n : (n <= 4 ? 2 : 3), rows = (n + cols - 1) / cols;
  const int pw = 420, ph = 280;
  Figure f(out, cols * pw + 60, rows * ph + 110);
  std::vector<double> centre;
  for (size_t j = 0; j < r.bin_start.size(); ++j) centre.push_back(0.5 * double(r.bin_start[j] + r.bin_stop[j] - 1));
  for (int k = 0; k < n; ++k) {
    const int64_t col = columns[size_t(k)];
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int c : conditions) {
      const Psth& p = s.psth[size_t(c)];
      for (int64_t j = 0; j < p.mean.rows(); ++j) {
        const double m = p.mean(j, col), e = std::isfinite(p.sem(j, col)) ? p.sem(j, col) : 0;
        if (std::isfinite(m)) lo = std::min(lo, m - e), hi = std::max(hi, m + e);
      }
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (!(hi > lo)) lo -= 0.5, hi += 0.5;
    const double pad = 0.05 * (hi - lo);
    const double x0 = centre.front() - 0.5, x1 = std::max(centre.back() + 0.5, x0 + 1);
    Axes a{double(80 + (k % cols) * pw),
           double(85 + (k / cols) * ph),
           double(pw - 110),
           double(ph - 90),
           x0,
           x1,
           lo - pad,
           hi + pad};
    cairo_t* cr = f.cr();
    if (a.x0 < 0 && a.x1 > 0) {  // the event
      cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
      cairo_set_dash(cr, std::array<double, 2>{4, 3}.data(), 2, 0);
      cairo_move_to(cr, a.px(0), a.y);
      cairo_line_to(cr, a.px(0), a.y + a.h);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
    }
    for (size_t ci = 0; ci < conditions.size(); ++ci) {
      const Psth& p = s.psth[size_t(conditions[ci])];
      const RGB c = kLines[ci % kLines.size()];
      // SEM band, one polygon per run of bins with a mean and an SEM.
      for (int64_t j = 0; j < p.mean.rows();) {
        if (!std::isfinite(p.mean(j, col))) {
          ++j;
          continue;
        }
        int64_t e = j;
        while (e < p.mean.rows() && std::isfinite(p.mean(e, col))) ++e;
        auto sem = [&](int64_t i) { return std::isfinite(p.sem(i, col)) ? p.sem(i, col) : 0.0; };
        cairo_move_to(cr, a.px(centre[size_t(j)]), a.py(p.mean(j, col) + sem(j)));
        for (int64_t i = j + 1; i < e; ++i) cairo_line_to(cr, a.px(centre[size_t(i)]), a.py(p.mean(i, col) + sem(i)));
        for (int64_t i = e; i-- > j;) cairo_line_to(cr, a.px(centre[size_t(i)]), a.py(p.mean(i, col) - sem(i)));
        cairo_close_path(cr);
        cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.25);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, a.px(centre[size_t(j)]), a.py(p.mean(j, col)));
        for (int64_t i = j + 1; i < e; ++i) cairo_line_to(cr, a.px(centre[size_t(i)]), a.py(p.mean(i, col)));
        if (e - j == 1) cairo_arc(cr, a.px(centre[size_t(j)]), a.py(p.mean(j, col)), 2.5, 0, 2 * M_PI);
        cairo_stroke(cr);
        j = e;
      }
    }
    draw_axes(f, a, "rows from " + r.event, "activation");
    const auto& sel = s.sel;
    std::string sub = "neuron " + std::to_string(s.neurons[size_t(col)]);
    if (std::isfinite(sel.d_prime[size_t(col)])) sub += "   d'=" + fmt(sel.d_prime[size_t(col)]);
    if (std::isfinite(sel.anova_p[size_t(col)])) sub += "   p=" + fmt(sel.anova_p[size_t(col)]);
    f.text(sub, a.x + a.w / 2, a.y - 18, 12, 0.5, 0);
  }
  // Legend along the top right.
  double lx = f.width() - 20;
  for (size_t ci = conditions.size(); ci-- > 0;) {
    const std::string name = r.conditions[size_t(conditions[ci])] + " (mean \xc2\xb1 SEM)";
    const double tw = f.text_width(name, 12);
    lx -= tw + 34;
    const RGB c = kLines[ci % kLines.size()];
    cairo_set_source_rgb(f.cr(), c[0], c[1], c[2]);
    cairo_rectangle(f.cr(), lx, 32, 20, 10);
    cairo_fill(f.cr());
    f.text(name, lx + 26, 31, 12, 0, 0);
  }
  f.text(s.key() + ": PSTH", 20, 10, 15, 0, 0, 0, true);
  f.save();
}

void plot_selectivity_map(const Results& r, const std::filesystem::path& out) {
  if (r.sites.empty()) throw DataError("plot selectivity: the results have no sites");
  int64_t W = 0;
  for (const auto& s : r.sites) W = std::max(W, s.width());
  const int64_t S = int64_t(r.sites.size());
  Mat m = Mat::Constant(S, W, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> all, frac;
  const bool perm = r.permutations > 0;
  for (int64_t i = 0; i < S; ++i) {
    const auto& sel = r.sites[size_t(i)].sel;
    int64_t sig = 0, tested = 0;
    for (int64_t j = 0; j < r.sites[size_t(i)].width(); ++j) {
      m(i, j) = sel.d_prime[size_t(j)];
      all.push_back(std::abs(sel.d_prime[size_t(j)]));
      const double q = perm ? sel.perm_q[size_t(j)] : sel.anova_q[size_t(j)];
      if (std::isfinite(q)) ++tested, sig += q < r.fdr_alpha;
    }
    frac.push_back(tested ? double(sig) / double(tested) : 0);
  }
  double lim = percentile(all, 0.99);
  if (!(lim > 0)) lim = 1;
  double left = 80;
  for (const auto& s : r.sites) left = std::max(left, 20 + 7.0 * double(s.key().size()));
  left = std::min(left, 420.0);
  const int h = int(std::clamp<int64_t>(S * 22, 240, 1400)) + 110;
  Figure f(out, int(left) + 1020, h);
  Axes a{left, 50, 640, double(h - 110), 0, double(W), double(S), 0};
  paint_matrix(f, a, m, kDiverging, -lim, lim);
  std::vector<std::pair<double, std::string>> yt;
  const int64_t every = std::max<int64_t>(1, S / 40);
  for (int64_t i = 0; i < S; i += every) {
    std::string k = r.sites[size_t(i)].key();
    if (k.size() > 56) k = "~" + k.substr(k.size() - 55);
    yt.emplace_back(double(i) + 0.5, k);
  }
  Axes ya = a;
  ya.y0 = double(S);
  ya.y1 = 0;
  draw_axes(f, ya, "neuron (column)", "", yt);
  colorbar(f, kDiverging, a.x + a.w + 15, a.y, 18, a.h, -lim, lim,
           "d' (" + (r.contrast.empty() ? std::string("n/a") : r.contrast[0] + " vs " + r.contrast[1]) + ")");
  // Per-electrode summary: fraction of neurons significant after FDR.
  Axes b{a.x + a.w + 130, a.y, 200, a.h, 0, 1, double(S), 0};
  cairo_t* cr = f.cr();
  for (int64_t i = 0; i < S; ++i) {
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.55);
    const double y0 = b.y + (double(i) + 0.15) * b.h / double(S), hh = 0.7 * b.h / double(S);
    cairo_rectangle(cr, b.px(0), y0, b.px(frac[size_t(i)]) - b.px(0), hh);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
  cairo_rectangle(cr, b.x, b.y, b.w, b.h);
  cairo_stroke(cr);
  for (double v : {0.0, 0.5, 1.0}) {
    cairo_move_to(cr, b.px(v), b.y + b.h);
    cairo_line_to(cr, b.px(v), b.y + b.h + 5);
    cairo_stroke(cr);
    f.text(fmt(v), b.px(v), b.y + b.h + 8, 11, 0.5, 0);
  }
  f.text(std::string("fraction ") + (perm ? "perm" : "ANOVA") + " q < " + fmt(r.fdr_alpha), b.x + b.w / 2,
         b.y + b.h + 28, 13, 0.5, 0);
  f.text("Selectivity across sites (window " + std::to_string(r.window_start) + ".." + std::to_string(r.window_stop) +
             " rows from " + r.event + ")",
         f.width() / 2.0, 18, 15, 0.5, 0, 0, true);
  f.save();
}

void plot_dprime_hist(const Results& r, const std::filesystem::path& out, int64_t site) {
  std::vector<double> v;
  for (size_t i = 0; i < r.sites.size(); ++i)
    if (site < 0 || int64_t(i) == site)
      for (double d : r.sites[i].sel.d_prime)
        if (std::isfinite(d)) v.push_back(d);
  Figure f(out, 800, 520);
  double lo = v.empty() ? -1 : *std::min_element(v.begin(), v.end()),
         hi = v.empty() ? 1 : *std::max_element(v.begin(), v.end());
  if (!(hi > lo)) lo -= 0.5, hi += 0.5;
  const int nb = std::clamp(int(std::sqrt(double(v.size())) * 2), 10, 80);
  std::vector<int64_t> count(size_t(nb), 0);
  for (double d : v) {
    const double x = (d - lo) / (hi - lo) * nb;  // NaN when the range overflows: first bin
    count[size_t(x >= 0 ? std::min(x, double(nb - 1)) : 0.0)]++;
  }
  const int64_t top = v.empty() ? 1 : *std::max_element(count.begin(), count.end());
  Axes a{90, 50, 670, 400, lo, hi, 0, double(top) * 1.08};
  cairo_t* cr = f.cr();
  for (int k = 0; k < nb; ++k) {
    const double x0 = lo + (hi - lo) * k / nb, x1 = lo + (hi - lo) * (k + 1) / nb;
    cairo_rectangle(cr, a.px(x0), a.py(double(count[size_t(k)])), a.px(x1) - a.px(x0),
                    a.py(0) - a.py(double(count[size_t(k)])));
    cairo_set_source_rgb(cr, 0.27, 0.45, 0.70);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 0.5);
    cairo_stroke(cr);
  }
  if (lo < 0 && hi > 0) {
    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
    cairo_set_dash(cr, std::array<double, 2>{4, 3}.data(), 2, 0);
    cairo_move_to(cr, a.px(0), a.y);
    cairo_line_to(cr, a.px(0), a.y + a.h);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  }
  const std::string what = r.contrast.empty() ? "d'" : "d' (" + r.contrast[0] + " vs " + r.contrast[1] + ")";
  draw_axes(f, a, what, "neurons");
  f.text("Distribution of " + what + ": " + std::to_string(v.size()) + " neurons" +
             (site >= 0 ? ", " + r.sites[size_t(site)].key() : ", " + std::to_string(r.sites.size()) + " electrodes"),
         400, 18, 15, 0.5, 0, 0, true);
  f.save();
}

}  // namespace rig::analysis
