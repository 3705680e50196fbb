#include "analysis/from_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "analysis/analyze.h"
#include "analysis/pca.h"
#include "analysis/stats.h"
#include "core/events.h"
#include "core/error.h"
#include "recording/reader.h"

namespace rig::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The analysis's Moments (n, mean, var with n - 1) of condition c, bin b, unit j.
Moments cell(const rig::Moments& m, int64_t c, int64_t b, int64_t j) {
  const size_t k = m.cell(c, b);
  Moments r;
  r.n = m.count[k];
  r.mean = r.n > 0 ? m.mean[k * size_t(m.width) + size_t(j)] : kNaN;
  r.var = r.n > 1 ? m.m2[k * size_t(m.width) + size_t(j)] / double(r.n - 1) : kNaN;
  return r;
}

}  // namespace

Results analyze_statistics(const RecordingReader& rec, const AnalysisConfig& cfg) {
  const BinSpec& bins = rec.bins();
  const std::vector<std::string>& file_conditions = rec.statistics_conditions();
  Results r = results_header(rec, cfg, bins);
  r.time_resolved = true;  // per-bin statistics are what moments give best
  for (int64_t b = 0; b < bins.n_bins(); ++b)
    r.bin_start.push_back(bins.bin_start(b)), r.bin_stop.push_back(bins.bin_stop(b));
  const std::string stored = "the file's statistics (event " + bins.event + ", pre " + std::to_string(bins.pre) +
                             ", post " + std::to_string(bins.post) + ", bin " + std::to_string(bins.bin) + ")";
  if (cfg.event != bins.event || cfg.pre != bins.pre || cfg.post != bins.post || cfg.bin != bins.bin)
    r.notes.push_back("the analysis asks for event " + cfg.event + ", pre " + std::to_string(cfg.pre) + ", post " +
                      std::to_string(cfg.post) + ", bin " + std::to_string(cfg.bin) +
                      "; a statistics file can only "
                      "be analysed in its own bins: using " +
                      stored);
  r.notes.push_back(
      "needs single trials, not computed from a statistics file: AUC, permutation p-values (perm_p, "
      "max-statistic, clusters), decoding");
  if (cfg.smoothing != Smoothing::kNone || cfg.baseline != Baseline::kNone)
    r.notes.push_back("smoothing and baselines act on each trial's rows: not applied to a statistics file");

  // Conditions: the config's, else the file's that have trials (the raw analysis's default).
  std::vector<int64_t> file_index;
  const std::vector<rig::Moments> all = rec.statistics();
  for (const std::string& c : cfg.conditions.empty() ? file_conditions : cfg.conditions) {
    auto it = std::find(file_conditions.begin(), file_conditions.end(), c);
    if (it == file_conditions.end())
      throw DataError(rec.path().string() + ": /statistics has no condition '" + c + "'");
    const int64_t k = it - file_conditions.begin();
    bool any = !cfg.conditions.empty();
    for (const auto& m : all)
      for (int64_t b = 0; b < m.n_bins && !any; ++b) any = m.count[m.cell(k, b)] > 0;
    if (!any && !all.empty()) continue;
    r.conditions.push_back(c);
    file_index.push_back(k);
  }
  const int C = int(r.conditions.size());
  int ca = -1, cb = -1;
  if (cfg.contrast.size() == 2) {
    ca = int(std::find(r.conditions.begin(), r.conditions.end(), cfg.contrast[0]) - r.conditions.begin());
    cb = int(std::find(r.conditions.begin(), r.conditions.end(), cfg.contrast[1]) - r.conditions.begin());
    if (ca >= C || cb >= C) ca = cb = -1;
  } else if (C >= 2) {
    ca = 0, cb = 1;
  }
  if (ca >= 0) r.contrast = {r.conditions[size_t(ca)], r.conditions[size_t(cb)]};
  // Trials: included = an analysed condition and the event (as the writer counted them).
  for (const TrialRow& t : rec.trials()) {
    r.trial_index.push_back(t.index);
    r.trial_condition.push_back(t.condition);
    TrialResult tr;
    static_cast<TrialFields&>(tr) = t;
    int64_t ev = -1;
    if (is_builtin_event(bins.event)) {
      ev = statistics_event_row(bins, tr);
    } else {
      for (const EventRow& e : rec.events(bins.event))
        if (e.trial == t.index) ev = e.row - t.row_start;
    }
    const bool analysed = std::find(r.conditions.begin(), r.conditions.end(), t.condition) != r.conditions.end();
    r.trial_event_row.push_back(ev >= 0 ? t.row_start + ev : -1);
    r.trial_included.push_back(analysed && ev >= 0);
    r.trial_fold.push_back(-1);
  }
  r.condition_trials.assign(size_t(C), 0);
  for (size_t i = 0; i < r.trial_index.size(); ++i)
    if (r.trial_included[i])
      ++r.condition_trials[size_t(std::find(r.conditions.begin(), r.conditions.end(), r.trial_condition[i]) -
                                  r.conditions.begin())];
  // The selectivity window must be one of the file's bins: a window mean's variance over
  // trials is not a function of the bins' moments.
  int64_t wbin = -1;
  for (int64_t b = 0; b < bins.n_bins(); ++b)
    if (bins.bin_start(b) == r.window_start && bins.bin_stop(b) == r.window_stop + 1) wbin = b;
  if (wbin < 0)
    r.notes.push_back("the selectivity window [" + std::to_string(r.window_start) + ", " +
                      std::to_string(r.window_stop) + "] is not one bin of " + stored +
                      ": window statistics (selectivity table) are NaN; the per-bin "
                      "ones are in each electrode's /time");

  const std::vector<ElectrodeSpec>& es = rec.electrodes();
  for (size_t e = 0; e < es.size(); ++e) {
    const ElectrodeSpec& spec = es[e];
    if (!cfg.sites.empty() && std::none_of(cfg.sites.begin(), cfg.sites.end(), [&](const SiteSelector& s) {
          return s.site == spec.site && (s.any_side || s.side == spec.side);
        }))
      continue;
    const rig::Moments& m = all[e];
    const int64_t W = spec.width(), B = bins.n_bins();
    SiteResult sr;
    sr.site = spec.site;
    sr.side = spec.side;
    sr.module_type = spec.module_type;
    for (int64_t j = 0; j < W; ++j) sr.neurons.push_back(spec.neurons.empty() ? j : spec.neurons[size_t(j)]);
    for (int c = 0; c < C; ++c) {
      Psth p;
      p.mean = p.sd = p.sem = Mat::Constant(B, W, kNaN);
      for (int64_t b = 0; b < B; ++b) {
        p.n.push_back(m.count[m.cell(file_index[size_t(c)], b)]);
        for (int64_t j = 0; j < W; ++j) {
          const Moments x = cell(m, file_index[size_t(c)], b, j);
          p.mean(b, j) = x.mean;
          if (x.n > 1) p.sd(b, j) = std::sqrt(x.var), p.sem(b, j) = std::sqrt(x.var / double(x.n));
        }
      }
      sr.psth.push_back(std::move(p));
    }
    // Per bin (and the window's bin): the contrast and the ANOVA from each cell's moments.
    sr.time.d_prime = sr.time.auc = sr.time.anova_f = sr.time.anova_p = Mat::Constant(B, W, kNaN);
    Selectivity& s = sr.sel;
    for (auto* v : {&s.d_prime, &s.selectivity_index, &s.auc, &s.t, &s.t_p, &s.welch_t, &s.welch_p, &s.anova_f,
                    &s.anova_p, &s.eta2, &s.perm_p, &s.anova_q, &s.perm_q, &s.perm_p_max})
      v->assign(size_t(W), kNaN);
    s.preferred.assign(size_t(W), -1);
    sr.window_mean = Mat::Constant(C, W, kNaN);
    sr.window_n.assign(size_t(C), 0);
    std::vector<Moments> g(static_cast<size_t>(C));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t j = 0; j < W; ++j) {
        for (int c = 0; c < C; ++c) g[size_t(c)] = cell(m, file_index[size_t(c)], b, j);
        const Anova an = anova_from_moments(g);
        sr.time.anova_f(b, j) = an.f;
        sr.time.anova_p(b, j) = an.p;
        if (ca >= 0) sr.time.d_prime(b, j) = d_prime(g[size_t(ca)], g[size_t(cb)]);
        if (b != wbin) continue;
        double best = -std::numeric_limits<double>::infinity();
        for (int c = 0; c < C; ++c) {
          sr.window_mean(c, j) = g[size_t(c)].mean;
          sr.window_n[size_t(c)] = g[size_t(c)].n;
          if (g[size_t(c)].n > 0 && g[size_t(c)].mean > best) best = g[size_t(c)].mean, s.preferred[size_t(j)] = c;
        }
        s.anova_f[size_t(j)] = an.f, s.anova_p[size_t(j)] = an.p, s.eta2[size_t(j)] = an.eta2;
        if (ca < 0) continue;
        const Moments &a = g[size_t(ca)], &bb = g[size_t(cb)];
        s.d_prime[size_t(j)] = d_prime(a, bb);
        s.selectivity_index[size_t(j)] = a.n && bb.n ? selectivity_index(a.mean, bb.mean) : kNaN;
        const TTest t = t_test_pooled(a, bb), w = t_test_welch(a, bb);
        s.t[size_t(j)] = t.t, s.t_p[size_t(j)] = t.p, s.welch_t[size_t(j)] = w.t, s.welch_p[size_t(j)] = w.p;
      }
    }
    std::vector<Mat> means;
    for (const auto& p : sr.psth) means.push_back(p.mean);
    sr.pca = pca_condition_averages(means, cfg.pca_components, cfg.normalize, cfg.soft_c, cfg.pca_center);
    r.sites.push_back(std::move(sr));
  }
  // Benjamini-Hochberg over every analysed neuron of every electrode (one family).
  std::vector<double> all_p;
  for (const auto& s : r.sites) all_p.insert(all_p.end(), s.sel.anova_p.begin(), s.sel.anova_p.end());
  const std::vector<double> q = bh_fdr(all_p);
  size_t at = 0;
  for (auto& s : r.sites) {
    s.sel.anova_q.assign(q.begin() + long(at), q.begin() + long(at + s.sel.anova_p.size()));
    at += s.sel.anova_p.size();
  }
  return r;
}

}  // namespace rig::analysis
