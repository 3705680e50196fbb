#pragma once
// The analysis config: the `analysis:` section of an experiment config, or a file of its own
// (`rig analyze REC.h5 -c analysis.yaml`, whose top level is either that mapping or a mapping
// with an `analysis:` key). docs/ANALYSIS.md describes every key.
//
// Errors are ConfigError "FILE:LINE:COL: KEY.PATH: expected ..., got ...". Names that only the
// recording can confirm (sites, conditions, events) are checked by check_against() with the
// same prefix, so a typo in a site name points at its line.
#include <cstdint>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/site_info.h"

namespace rig {
class RecordingReader;
}

namespace rig::analysis {

// Where a key of the analysis config was written: "analysis.yaml:12:5: analysis.sites.0".
// Empty for defaults (nothing written).
struct Where {
  std::string prefix;
  std::string error(const std::string& what) const { return prefix.empty() ? what : prefix + ": " + what; }
};

enum class Smoothing { kNone, kBoxcar, kGaussian };
const char* smoothing_name(Smoothing s);
// Per-unit scaling of the population views (decoding, PCA): zscore = (x - mean) / SD (SD with
// n, 1 where it is 0, as sklearn's StandardScaler); soft = x / (max - min + c) (jPCA's
// soft_normalize).
enum class Normalize { kNone, kZscore, kSoft };
const char* normalize_name(Normalize n);
// Per-trial, per-unit baseline over the raw rows of the baseline window (FieldTrip's
// ft_timelockbaseline 'absolute' = subtract the mean; 'zscore' = then divide by the SD with n).
enum class Baseline { kNone, kSubtract, kZscore };
const char* baseline_name(Baseline b);
enum class PcaCenter { kMean, kCrossCondition };
const char* pca_center_name(PcaCenter c);

// One site to analyse; side unset = every side the recording has for that site.
struct SiteSelector {
  std::string site;
  bool any_side = true;
  Side side = Side::kOutput;
  Where where;
};

struct AnalysisConfig {
  // Which data.
  std::vector<SiteSelector> sites;      // empty = every electrode of the recording
  std::vector<std::string> conditions;  // empty = every condition with trials (stimulus order)
  Where sites_where, conditions_where;
  // group_by: a trial's condition is its stimulus's value of one extra field (field_text), or
  // of two joined by '|' (their crossing), instead of the stimulus's condition.
  std::vector<std::string> group_by;
  Where group_by_where;
  // Alignment: rows at offsets [-pre, +post] (inclusive) around the event's row.
  std::string event = "prompt_onset";  // prompt_onset | response_onset | eos | /events name
  int64_t pre = 0;
  int64_t post = 15;
  int64_t bin = 1;  // rows per bin
  Smoothing smoothing = Smoothing::kNone;
  double smooth_width = 3;  // boxcar: rows; gaussian: sigma in rows
  Where event_where;
  // Selectivity: the mean of rows at offsets [window_start, window_stop] (inclusive), raw
  // (not smoothed). Default: the whole aligned window.
  int64_t window_start = 0, window_stop = 0;
  bool window_set = false;
  // Baseline: rows at offsets [baseline_start, baseline_stop] (inclusive) of each trial.
  Baseline baseline = Baseline::kNone;
  int64_t baseline_start = 0, baseline_stop = 0;
  std::vector<std::string> contrast;  // two conditions for d', SI, AUC; default: first two
  Where contrast_where;
  int64_t permutations = 1000;  // 0 = no permutation test
  bool time_resolved = false;   // per-bin d', AUC, F and cluster-mass permutations
  double cluster_alpha = 0.05;  // cluster-forming threshold (per-bin F test)
  uint64_t seed = 0;
  double fdr_alpha = 0.05;
  // Population views.
  int64_t pca_components = 3;
  PcaCenter pca_center = PcaCenter::kMean;  // cross_condition: jPCA's subtract_cc_mean
  Normalize normalize = Normalize::kNone;   // decoding (fit on the training folds) and PCA
  double soft_c = 5;                        // soft: the c of range + c
  int64_t folds = 5;                        // decoding folds; 0 = no decoding
  int64_t cv_repeats = 1;                   // repeated stratified cross-validation
  int64_t decode_permutations = 0;          // label-permutation null of the accuracy per bin
  bool generalization = false;              // train-bin x test-bin decoding matrix
  // Output and resources.
  int64_t top = 50;           // rows of the most-selective CSV
  int64_t chunk_rows = 8192;  // rows read at a time (memory: chunk_rows x width floats)
  int64_t threads = 0;        // electrodes analysed at once; 0 = one per core

  std::string file;  // where it was read from ("" = defaults)
  std::string yaml;  // the mapping as text (stored in the results)
};

// Decodes an `analysis:` mapping (Null = all defaults). `file` names it in messages;
// `key_prefix` is the key path of `node` ("analysis" or "").
AnalysisConfig parse_analysis(const YAML::Node& node, const std::string& file, const std::string& key_prefix);
// Reads a YAML file: its `analysis:` key if the top level has one, else the whole mapping.
AnalysisConfig load_analysis_file(const std::string& path);
// The `analysis:` section of the experiment config stored in a recording's root attribute
// `config`, or defaults when there is none.
AnalysisConfig analysis_from_recording(const RecordingReader& rec);

// Checks sites, conditions, contrast and event against the recording (ConfigError naming the
// config's file:line:col when they came from YAML, DataError otherwise, listing what exists).
void check_against(const AnalysisConfig& cfg, const RecordingReader& rec);

}  // namespace rig::analysis
