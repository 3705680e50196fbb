#pragma once
// Aligning trials to an event and reading them in chunks.
//
// A trial's aligned axis is the rows at offsets -pre..+post (inclusive, L = pre + post + 1)
// from its event row. Rows outside the trial's own rows [row_start, row_stop) have no data
// (masked, never taken from the neighbouring trial). Bin j holds aligned rows
// [j*bin, min((j+1)*bin, L)); its value is the mean of the (smoothed) rows with data in it, and
// a bin without any is masked. Smoothing runs along each trial's rows with data before binning,
// normalised by the kernel weight that falls on rows with data (so edges are not pulled to 0).
// With a baseline, every value of a trial is (x - mean_b) * inv_sd_b from that trial's raw rows
// in the baseline window; trials without a row there are left out.
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "analysis/analysis_config.h"

namespace rig {
class RecordingReader;
struct TrialRow;
}  // namespace rig

namespace rig::analysis {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct AlignedTrial {
  size_t trial = 0;        // index into RecordingReader::trials()
  int condition = 0;       // index into Alignment::conditions
  int64_t event_row = 0;   // absolute row of the event
  int64_t r0 = 0, r1 = 0;  // absolute rows with data on the aligned axis: [r0, r1), maybe empty
};

struct Alignment {
  std::vector<std::string> conditions;  // analysed conditions, in order
  // group_by: each field's values among the analysed conditions (field_text, in value order),
  // and per condition the index of its value of each field: [condition][field].
  std::vector<std::vector<std::string>> levels;
  std::vector<std::vector<int>> condition_levels;
  std::vector<AlignedTrial> trials;  // included trials (analysed condition, has the event), by row
  std::vector<int64_t> event_row;    // per recording trial: absolute event row, -1 = none
  std::vector<int> condition_of;     // per recording trial: condition index, -1 = not analysed
  int64_t pre = 0, post = 0, bin = 1;
  std::vector<int64_t> bin_start, bin_stop;  // offsets from the event: [start, stop) per bin
  int64_t length() const { return pre + post + 1; }
  size_t n_bins() const { return bin_start.size(); }
};

// The condition a trial is analysed under: its condition, or with group_by its stimulus's
// values of the fields (field_text; two joined by '|'; "" where the stimulus lacks one).
std::string trial_label(const RecordingReader& rec, const AnalysisConfig& cfg, const TrialRow& t);

// Finds each trial's event (an /events group, else the built-ins from /trials: prompt_onset =
// row_start, response_onset = row_start + n_prompt_tokens when something was generated,
// eos = the last row when finish_reason is eos) and the bins. Call check_against() first.
Alignment align_trials(const RecordingReader& rec, const AnalysisConfig& cfg);

// Consecutive included trials whose rows with data fit in about chunk_rows rows (at least one
// trial each), read with one read_rows call: rows [r0, r1).
struct TrialBlock {
  size_t first = 0, last = 0;  // Alignment::trials[first, last)
  int64_t r0 = 0, r1 = 0;
};
std::vector<TrialBlock> plan_blocks(const Alignment& al, int64_t chunk_rows);

// Turns one trial's rows into binned values; holds the smoothing kernel.
class Binner {
 public:
  Binner(const Alignment& al, const AnalysisConfig& cfg);
  // block: rows [block_r0, ...) of one electrode, width W, row-major floats.
  // binned: [n_bins x W]; valid[j] = bin j has data. Masked bins are NaN.
  void bin(const float* block, int64_t block_r0, int64_t W, const AlignedTrial& t, Mat& binned,
           std::vector<char>& valid) const;
  // Mean of the raw rows at offsets [window_start, window_stop] that have data; false if none.
  bool window_mean(const float* block, int64_t block_r0, int64_t W, const AlignedTrial& t, double* out) const;
  // The trial's baseline per unit: mean and 1/SD (SD with n; 1 where 0, and 1 for subtract).
  void baseline(const float* block, int64_t block_r0, int64_t W, const AlignedTrial& t, Eigen::RowVectorXd& mu,
                Eigen::RowVectorXd& inv_sd) const;
  const std::vector<double>& kernel() const { return kernel_; }  // weights at offsets -half..
  int64_t kernel_first() const { return k0_; }                   // offset of kernel()[0]

 private:
  const Alignment& al_;
  int64_t win0_, win1_;
  std::vector<double> kernel_;
  int64_t k0_ = 0;
  Baseline baseline_ = Baseline::kNone;
  int64_t base0_ = 0, base1_ = 0;
};

// The smoothing kernel: boxcar of `width` rows (offsets -(w-1)/2 .. w-1-(w-1)/2) or a Gaussian
// of sigma `width` truncated at +-ceil(3 sigma); {1} for none. first = offset of weight 0.
std::vector<double> smoothing_kernel(Smoothing s, double width, int64_t& first);

}  // namespace rig::analysis
