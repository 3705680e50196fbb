#include "analysis/analyze.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

#include "analysis/decoding.h"
#include "analysis/from_statistics.h"
#include "analysis/stats.h"
#include "core/error.h"
#include "recording/reader.h"

namespace rig::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Which electrodes to analyse, in the recording's order (or the config's order when listed).
std::vector<size_t> pick_electrodes(const RecordingReader& rec, const AnalysisConfig& cfg) {
  const auto& es = rec.electrodes();
  std::vector<size_t> out;
  if (cfg.sites.empty()) {
    for (size_t e = 0; e < es.size(); ++e) out.push_back(e);
    return out;
  }
  for (const auto& s : cfg.sites)
    for (size_t e = 0; e < es.size(); ++e)
      if (es[e].site == s.site && (s.any_side || es[e].side == s.side) &&
          std::find(out.begin(), out.end(), e) == out.end())
        out.push_back(e);
  return out;
}

void selectivity(SiteResult& sr, const Eigen::MatrixXd& X, const std::vector<int>& labels, int C, int ca, int cb,
                 const AnalysisConfig& cfg, std::vector<double>& max_f) {
  const int64_t w = X.cols(), n = X.rows();
  Selectivity& s = sr.sel;
  for (auto* v : {&s.d_prime, &s.selectivity_index, &s.auc, &s.t, &s.t_p, &s.welch_t, &s.welch_p, &s.anova_f,
                  &s.anova_p, &s.eta2})
    v->assign(size_t(w), kNaN);
  s.preferred.assign(size_t(w), -1);
  sr.window_mean = Mat::Constant(C, w, kNaN);
  sr.window_n.assign(size_t(C), 0);
  for (int l : labels) ++sr.window_n[size_t(l)];
  std::vector<std::vector<double>> groups(static_cast<size_t>(C));
  for (int64_t j = 0; j < w; ++j) {
    for (auto& g : groups) g.clear();
    for (int64_t i = 0; i < n; ++i) groups[size_t(labels[size_t(i)])].push_back(X(i, j));
    std::vector<Moments> m(static_cast<size_t>(C));
    double best = -std::numeric_limits<double>::infinity();
    for (int c = 0; c < C; ++c) {
      m[size_t(c)] = moments(groups[size_t(c)].data(), groups[size_t(c)].size());
      sr.window_mean(c, j) = m[size_t(c)].mean;
      if (m[size_t(c)].n > 0 && m[size_t(c)].mean > best) best = m[size_t(c)].mean, s.preferred[size_t(j)] = c;
    }
    if (ca >= 0) {
      const Moments &a = m[size_t(ca)], &b = m[size_t(cb)];
      s.d_prime[size_t(j)] = d_prime(a, b);
      s.selectivity_index[size_t(j)] = a.n && b.n ? selectivity_index(a.mean, b.mean) : kNaN;
      s.auc[size_t(j)] = auc(groups[size_t(ca)], groups[size_t(cb)]);
      const TTest t = t_test_pooled(a, b);
      s.t[size_t(j)] = t.t;
      s.t_p[size_t(j)] = t.p;
      const TTest w = t_test_welch(a, b);
      s.welch_t[size_t(j)] = w.t;
      s.welch_p[size_t(j)] = w.p;
    }
    const Anova an = anova_oneway(groups);
    s.anova_f[size_t(j)] = an.f;
    s.anova_p[size_t(j)] = an.p;
    s.eta2[size_t(j)] = an.eta2;
  }
  s.perm_p = C >= 2 ? permutation_p_anova(X, labels, C, cfg.permutations, cfg.seed, &max_f)
                    : std::vector<double>(size_t(w), kNaN);
}

// Seeds the fold assignment of repetition r of the cross-validation (r = 0: the seed itself,
// so /trials/fold and accuracy are those of a single run).
uint64_t repeat_seed(uint64_t seed, int64_t r) { return seed + uint64_t(r); }

}  // namespace

Results results_header(const RecordingReader& rec, const AnalysisConfig& cfg, const BinSpec& bins) {
  Results r;
  r.recording = rec.path().string();
  r.recording_identifier = rec.attr("identifier").value_or("");
  r.config_yaml = cfg.yaml;
  r.event = bins.event;
  r.pre = bins.pre;
  r.post = bins.post;
  r.bin = bins.bin;
  r.window_start = cfg.window_set ? cfg.window_start : -bins.pre;
  r.window_stop = cfg.window_set ? cfg.window_stop : bins.post;
  r.fdr_alpha = cfg.fdr_alpha;
  r.seed = cfg.seed;
  r.pca_center = pca_center_name(cfg.pca_center);
  r.normalize = normalize_name(cfg.normalize);
  r.soft_c = cfg.normalize == Normalize::kSoft ? cfg.soft_c : 0;
  return r;
}

Results analyze(const RecordingReader& rec, const AnalysisConfig& cfg, const Progress& progress) {
  if (rec.is_statistics()) {
    Results r = analyze_statistics(rec, cfg);
    if (progress)
      for (size_t i = 0; i < r.sites.size(); ++i) progress(i + 1, r.sites.size(), r.sites[i].key());
    return r;
  }
  const Alignment al = align_trials(rec, cfg);
  const int C = int(al.conditions.size());
  Results r = results_header(rec, cfg, BinSpec{cfg.event, cfg.pre, cfg.post, cfg.bin});
  r.smoothing = smoothing_name(cfg.smoothing);
  r.smooth_width = cfg.smoothing == Smoothing::kNone ? 0 : cfg.smooth_width;
  r.permutations = cfg.permutations;
  r.baseline = baseline_name(cfg.baseline);
  r.baseline_start = cfg.baseline_start;
  r.baseline_stop = cfg.baseline_stop;
  r.time_resolved = cfg.time_resolved;
  r.cluster_alpha = cfg.time_resolved ? cfg.cluster_alpha : 0;
  r.conditions = al.conditions;
  r.group_by = cfg.group_by;
  for (const auto& l : al.condition_levels) {
    std::vector<std::string> v;
    for (size_t f = 0; f < l.size(); ++f)
      v.push_back(l[f] >= 0 && size_t(l[f]) < al.levels[f].size() ? al.levels[f][size_t(l[f])] : "");
    r.condition_values.push_back(v);
  }
  r.bin_start = al.bin_start;
  r.bin_stop = al.bin_stop;
  int ca = -1, cb = -1;
  if (cfg.contrast.size() == 2) {
    ca = int(std::find(r.conditions.begin(), r.conditions.end(), cfg.contrast[0]) - r.conditions.begin());
    cb = int(std::find(r.conditions.begin(), r.conditions.end(), cfg.contrast[1]) - r.conditions.begin());
  } else if (C >= 2) {
    ca = 0, cb = 1;
  }
  if (ca >= 0) r.contrast = {r.conditions[size_t(ca)], r.conditions[size_t(cb)]};

  // Trials: labels and folds of the included trials (in Alignment::trials order).
  std::vector<int> labels;
  for (const auto& t : al.trials) labels.push_back(t.condition);
  r.condition_trials.assign(size_t(C), 0);
  for (int l : labels) ++r.condition_trials[size_t(l)];
  int nonempty = 0;
  for (auto n : r.condition_trials) nonempty += n > 0;
  const int F = cfg.folds >= 2 && nonempty >= 2 ? int(cfg.folds) : 0;
  r.folds = F;
  const int64_t R = F ? cfg.cv_repeats : 0;
  r.cv_repeats = R;
  r.decode_permutations = F ? cfg.decode_permutations : 0;
  std::vector<std::vector<int>> folds;  // [R] of fold per included trial
  for (int64_t k = 0; k < R; ++k) folds.push_back(assign_folds(labels, C, F, repeat_seed(cfg.seed, k)));
  const std::vector<int> fold = F ? folds[0] : std::vector<int>(labels.size(), -1);
  const auto& trials = rec.trials();
  r.trial_fold.assign(trials.size(), -1);
  r.trial_included.assign(trials.size(), 0);
  for (size_t i = 0; i < trials.size(); ++i) {
    r.trial_index.push_back(trials[i].index);
    r.trial_condition.push_back(trial_label(rec, cfg, trials[i]));
    r.trial_event_row.push_back(al.event_row[i]);
  }
  for (size_t k = 0; k < al.trials.size(); ++k) {
    r.trial_included[al.trials[k].trial] = 1;
    r.trial_fold[al.trials[k].trial] = fold[k];
  }
  if (!labels.empty()) {
    r.chance = 1.0 / double(nonempty);
    r.chance_majority =
        double(*std::max_element(r.condition_trials.begin(), r.condition_trials.end())) / double(labels.size());
  }

  const auto blocks = plan_blocks(al, cfg.chunk_rows);
  const Binner binner(al, cfg);
  const std::vector<size_t> electrodes = pick_electrodes(rec, cfg);
  // Electrodes are independent until the family-wise steps below: workers take them in turn,
  // each writes only its own slot, and the merge runs in electrode order afterwards, so the
  // results do not depend on the number of threads. HDF5 is not thread-safe: reads hold io.
  std::mutex io;
  std::vector<SiteResult> out(electrodes.size());
  std::vector<std::vector<double>> out_max_f(electrodes.size());
  auto one = [&](size_t ei) {
    std::vector<float> buf;
    Mat binned;
    std::vector<char> valid;
    const size_t e = electrodes[ei];
    const ElectrodeSpec& spec = rec.electrodes()[e];
    const int64_t W = spec.width();
    SiteResult sr;
    sr.site = spec.site;
    sr.side = spec.side;
    sr.module_type = spec.module_type;
    for (int64_t j = 0; j < W; ++j) sr.neurons.push_back(spec.neurons.empty() ? j : spec.neurons[size_t(j)]);
    PsthAccumulator psth(C, al.n_bins(), W);
    std::vector<std::unique_ptr<CentroidDecoder>> decs;  // one per repetition of the cross-validation
    for (int64_t k = 0; k < R; ++k)
      decs.push_back(std::make_unique<CentroidDecoder>(C, F, al.n_bins(), W, cfg.normalize, cfg.soft_c,
                                                       cfg.generalization && k == 0));
    Eigen::MatrixXd X(int64_t(al.trials.size()), W);  // window means, one row per included trial
    std::vector<char> has_window(al.trials.size(), 0);
    Eigen::RowVectorXd wm(W);
    std::vector<Mat> cube;  // time_resolved: every included trial's bins
    std::vector<std::vector<char>> cube_valid;
    const bool keep_trials = cfg.time_resolved || (F && cfg.decode_permutations > 0);
    if (keep_trials) cube.resize(al.trials.size()), cube_valid.resize(al.trials.size());
    for (int pass = 0; pass < (F ? 2 : 1); ++pass) {
      for (const TrialBlock& b : blocks) {
        buf.resize(size_t((b.r1 - b.r0) * W));
        {
          std::lock_guard<std::mutex> lock(io);
          rec.read_rows(e, b.r0, b.r1, buf.data());
        }
        for (size_t k = b.first; k < b.last; ++k) {
          const AlignedTrial& t = al.trials[k];
          binner.bin(buf.data(), b.r0, W, t, binned, valid);
          if (pass == 1) {
            for (size_t d = 0; d < decs.size(); ++d) decs[d]->test(t.condition, folds[d][k], binned, valid);
            continue;
          }
          psth.add(t.condition, binned, valid);
          if (keep_trials) cube[k] = binned, cube_valid[k] = valid;
          for (size_t d = 0; d < decs.size(); ++d) decs[d]->train(t.condition, folds[d][k], binned, valid);
          if (binner.window_mean(buf.data(), b.r0, W, t, wm.data())) {
            X.row(int64_t(k)) = wm;
            has_window[k] = 1;
          }
        }
      }
      if (pass == 0)
        for (auto& d : decs) d->finish_training();
    }
    for (int c = 0; c < C; ++c) sr.psth.push_back(psth.result(c));
    // Selectivity over the trials with data in the window.
    std::vector<int> wl;
    std::vector<int64_t> keep;
    for (size_t k = 0; k < al.trials.size(); ++k)
      if (has_window[k]) keep.push_back(int64_t(k)), wl.push_back(labels[k]);
    Eigen::MatrixXd Xw(int64_t(keep.size()), W);
    for (size_t i = 0; i < keep.size(); ++i) Xw.row(int64_t(i)) = X.row(keep[i]);
    X.resize(0, 0);
    for (int64_t j = 0; j < W; ++j)
      if (!Xw.col(j).allFinite()) sr.nonfinite_neurons.push_back(sr.neurons[size_t(j)]);
    selectivity(sr, Xw, wl, C, ca, cb, cfg, out_max_f[ei]);
    if (cfg.time_resolved)
      sr.time =
          timecourse(cube, cube_valid, labels, C, ca, cb, cfg.cluster_alpha, C >= 2 ? cfg.permutations : 0, cfg.seed);
    std::vector<Mat> means;
    for (const auto& p : sr.psth) means.push_back(p.mean);
    if (!cfg.group_by.empty()) sr.marginal = marginalize(means, al, cfg.group_by);
    sr.pca = pca_condition_averages(means, cfg.pca_components, cfg.normalize, cfg.soft_c, cfg.pca_center);
    if (!decs.empty()) {
      const size_t nb = al.n_bins();
      sr.decode_accuracy = decs[0]->accuracy();
      sr.decode_n = decs[0]->tested();
      sr.decode_repeats = Mat(R, int64_t(nb));
      for (int64_t k = 0; k < R; ++k) {
        const auto a = decs[size_t(k)]->accuracy();
        for (size_t j = 0; j < nb; ++j) sr.decode_repeats(k, int64_t(j)) = a[j];
      }
      sr.decode_mean.assign(nb, kNaN);
      sr.decode_sd.assign(nb, kNaN);
      for (size_t j = 0; j < nb; ++j) {
        const Eigen::VectorXd col = sr.decode_repeats.col(int64_t(j));
        const Moments m = moments(col.data(), size_t(col.size()));
        sr.decode_mean[j] = m.mean;
        sr.decode_sd[j] = m.var >= 0 ? std::sqrt(m.var) : kNaN;
      }
      if (cfg.decode_permutations > 0) {
        sr.decode_null =
            decoding_null(cube, cube_valid, labels, C, F, cfg.normalize, cfg.soft_c, cfg.decode_permutations, cfg.seed);
        sr.decode_p.assign(nb, kNaN);
        for (size_t j = 0; j < nb; ++j) {
          if (std::isnan(sr.decode_accuracy[j])) continue;
          int64_t ge = 0;
          for (int64_t p = 0; p < sr.decode_null.rows(); ++p)
            ge += sr.decode_null(p, int64_t(j)) >= sr.decode_accuracy[j];
          sr.decode_p[j] = double(1 + ge) / double(1 + sr.decode_null.rows());
        }
      }
      if (cfg.generalization) {
        sr.generalization = decs[0]->generalization();
        sr.generalization_n = decs[0]->generalization_n();
      }
    }
    out[ei] = std::move(sr);
  };
  size_t workers = cfg.threads > 0 ? size_t(cfg.threads) : std::max(1u, std::thread::hardware_concurrency());
  workers = std::max<size_t>(1, std::min(workers, electrodes.size()));
  std::atomic<size_t> next{0};
  size_t done = 0;
  std::exception_ptr failed;
  auto work = [&] {
    for (size_t ei; (ei = next++) < electrodes.size();) {
      try {
        one(ei);
      } catch (...) {
        std::lock_guard<std::mutex> lock(io);
        if (!failed) failed = std::current_exception();
        next = electrodes.size();  // the others stop after their current electrode
        return;
      }
      std::lock_guard<std::mutex> lock(io);
      if (progress) progress(++done, electrodes.size(), out[ei].key());
    }
  };
  if (workers == 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (size_t i = 0; i < workers; ++i) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (failed) std::rethrow_exception(failed);
  // Every electrode draws the same permutations (same seed, same trials): the max over
  // electrodes of each permutation's max is the max over all analysed neurons.
  for (size_t ei = 0; ei < electrodes.size(); ++ei) {
    const auto& mf = out_max_f[ei];
    if (r.perm_max_f.empty()) r.perm_max_f = mf;
    for (size_t m = 0; m < mf.size() && m < r.perm_max_f.size(); ++m)
      r.perm_max_f[m] = std::max(r.perm_max_f[m], mf[m]);
    const auto& mm = out[ei].time.max_mass;
    if (r.cluster_max_mass.empty()) r.cluster_max_mass = mm;
    for (size_t m = 0; m < mm.size() && m < r.cluster_max_mass.size(); ++m)
      r.cluster_max_mass[m] = std::max(r.cluster_max_mass[m], mm[m]);
    r.sites.push_back(std::move(out[ei]));
  }

  // Max-statistic p: the family is every analysed neuron of every electrode.
  for (auto& s : r.sites) s.sel.perm_p_max = max_statistic_p(s.sel.anova_f, r.perm_max_f);
  // Cluster p against the largest cluster mass over every analysed neuron (the same family).
  for (auto& s : r.sites) cluster_p(s.time.clusters, r.cluster_max_mass);
  // Benjamini-Hochberg over every analysed neuron of every electrode (one family).
  for (auto member : {&Selectivity::anova_p, &Selectivity::perm_p}) {
    std::vector<double> all;
    for (const auto& s : r.sites) all.insert(all.end(), (s.sel.*member).begin(), (s.sel.*member).end());
    const std::vector<double> q = bh_fdr(all);
    size_t at = 0;
    for (auto& s : r.sites) {
      auto& dst = member == &Selectivity::anova_p ? s.sel.anova_q : s.sel.perm_q;
      dst.assign(q.begin() + long(at), q.begin() + long(at + s.sel.anova_p.size()));
      at += s.sel.anova_p.size();
    }
  }
  return r;
}

}  // namespace rig::analysis
