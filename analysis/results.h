#pragma once
// The results of `rig analyze`: what is computed per electrode, and their HDF5 file
// (layout in docs/ANALYSIS.md: same conventions as a recording, groups per site and side,
// tables as groups of 1-D columns) plus the CSV of the most selective neurons.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/alignment.h"
#include "analysis/marginal.h"
#include "analysis/pca.h"
#include "analysis/psth.h"
#include "analysis/timecourse.h"
#include "core/site_info.h"

namespace rig::analysis {

inline constexpr const char* kResultsFormat = "rig-analysis";
inline constexpr int64_t kResultsFormatVersion = 1;

// Per neuron of one electrode (index = column of the recording).
struct Selectivity {
  std::vector<double> d_prime, selectivity_index, auc, t, t_p;  // contrast A vs B
  std::vector<double> welch_t, welch_p;                         // contrast A vs B, unequal variances
  std::vector<double> anova_f, anova_p, eta2, perm_p;           // all analysed conditions
  std::vector<double> anova_q, perm_q;                          // BH over every analysed neuron
  std::vector<double> perm_p_max;                               // max-statistic p over every analysed neuron
  std::vector<int64_t> preferred;                               // condition with the largest window mean
};

struct SiteResult {
  std::string site;
  Side side = Side::kOutput;
  std::string module_type;
  std::vector<int64_t> neurons;   // [W] neuron index within the site
  std::vector<Psth> psth;         // per condition
  Mat window_mean;                // [C x W] mean over trials of the window means
  std::vector<int64_t> window_n;  // [C] trials with data in the window
  Selectivity sel;
  PcaResult pca;
  std::vector<double> decode_accuracy;         // [n_bins]; empty when folds = 0
  std::vector<int64_t> decode_n;               // [n_bins] tested trial-bins
  Mat decode_repeats;                          // [cv_repeats x n_bins]; row 0 = decode_accuracy
  std::vector<double> decode_mean, decode_sd;  // [n_bins] over the repeats (SD with n - 1)
  Mat generalization, generalization_n;        // [train bin x test bin]; empty unless asked for
  Mat decode_null;                             // [decode_permutations x n_bins] label-permutation accuracies
  std::vector<double> decode_p;                // [n_bins]: (1 + #{null >= accuracy}) / (1 + permutations)
  Timecourse time;                             // time_resolved: [n_bins x W] statistics, clusters
  Marginalization marginal;                    // group_by: dPCA's marginalized variance of the PSTHs
  std::vector<int64_t> nonfinite_neurons;      // neurons with a NaN/inf window mean: NaN statistics
  int64_t width() const { return int64_t(neurons.size()); }
  std::string key() const { return site + "/" + side_name(side); }
};

struct Results {
  std::string recording;             // path as given
  std::string recording_identifier;  // the recording's `identifier` ("" if it has none)
  std::string config_yaml;           // the analysis config as text ("" = defaults)
  std::string event;
  int64_t pre = 0, post = 0, bin = 1;
  std::string smoothing = "none";
  double smooth_width = 0;
  int64_t window_start = 0, window_stop = 0;
  int64_t permutations = 0, folds = 0;
  uint64_t seed = 0;
  double fdr_alpha = 0.05;
  std::vector<std::string> conditions;
  std::vector<std::string> group_by;                       // the fields conditions are values of (empty: none)
  std::vector<std::vector<std::string>> condition_values;  // group_by: [condition][field] value text
  std::vector<std::string> contrast;                       // [A, B] or empty (one condition only)
  std::vector<int64_t> condition_trials;                   // [C] included trials
  std::vector<int64_t> bin_start, bin_stop;                // offsets from the event, [start, stop)
  // One row per recording trial.
  std::vector<int64_t> trial_index, trial_event_row, trial_fold;
  std::vector<std::string> trial_condition;
  std::vector<uint8_t> trial_included;
  double chance = 0, chance_majority = 0;  // decoding
  std::string normalize = "none", baseline = "none", pca_center = "mean";
  double soft_c = 0;
  int64_t baseline_start = 0, baseline_stop = 0, cv_repeats = 1, decode_permutations = 0;
  std::vector<double> perm_max_f;  // [permutations] max F over every analysed neuron
  bool time_resolved = false;
  double cluster_alpha = 0;
  std::vector<double> cluster_max_mass;  // [permutations] max cluster mass over every analysed neuron
  std::vector<SiteResult> sites;
  // What could not be computed and why (a statistics recording: what needs single trials).
  std::vector<std::string> notes;

  size_t site_index(const std::string& site, const std::string& side) const;  // DataError if absent
  int condition_index(const std::string& c) const;                            // DataError if absent
};

void write_results(const Results& r, const std::filesystem::path& path);
Results read_results(const std::filesystem::path& path);
// The `top` neurons with the smallest ANOVA p (ties: larger |d'|), across all electrodes.
void write_top_csv(const Results& r, const std::filesystem::path& path, int64_t top);

}  // namespace rig::analysis
