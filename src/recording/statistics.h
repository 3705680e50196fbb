#pragma once
// `recording: {store: statistics}` (docs/FORMAT.md, "Statistics"): instead of every row, a
// recording keeps, per condition x aligned bin, the count of trials and the mean and M2 (sum of
// squared deviations from the mean) of every unit, updated per trial with Welford's algorithm
// and combined across shards with Chan et al.'s formula. Means, variances (M2 / (n - 1)), SEM,
// t and F follow from them; statistics that need single trials (AUC, permutations, decoding)
// do not.
#include <cstdint>
#include <string>
#include <vector>

#include "core/trial.h"
#include "io/hdf5.h"

namespace rig {

// The moments of one electrode: [conditions x bins] counts, [conditions x bins x width] means
// and M2s, row-major (the order of the HDF5 datasets).
struct Moments {
  int64_t n_conditions = 0, n_bins = 0, width = 0;
  std::vector<int64_t> count;
  std::vector<double> mean, m2;

  Moments() = default;
  Moments(int64_t conditions, int64_t bins, int64_t width);
  size_t cell(int64_t c, int64_t b) const { return size_t(c * n_bins + b); }
  // Welford: one trial's value x[0..width) for condition c, bin b.
  void add(int64_t c, int64_t b, const double* x);
  // Chan et al.: adds the trials `o` summarises (same shape; rig::Error otherwise).
  void merge(const Moments& o);
};

// The conditions of a statistics recording: each stimulus's condition, in order of first
// appearance in the stimuli (the analysis's default order).
std::vector<std::string> statistics_conditions(const std::vector<StimulusRow>& stimuli);

// The row of `t` (within the trial) that spec.event names: a built-in event, else one of the
// trial's events; -1 when the trial has none.
int64_t statistics_event_row(const BinSpec& spec, const TrialResult& t);

// Bins one trial's rows (n_rows x width floats, row-major) aligned on event_row (0-based
// within the trial): out[b * width + j] = mean over the rows of bin b that lie inside the
// trial, valid[b] = 0 for a bin without any (analysis/alignment.h's Binner, unsmoothed).
void bin_trial(const BinSpec& spec, const float* rows, int64_t n_rows, int64_t width, int64_t event_row,
               std::vector<double>& out, std::vector<char>& valid);

// The HDF5 side. `group` is "statistics" (what readers read) or "statistics_checkpoint" (the
// writer's crash-safe copy, docs/FORMAT.md): <group>/{count,mean,m2}/<site>/<side>.
inline constexpr const char* kStatisticsGroup = "statistics";
inline constexpr const char* kCheckpointGroup = "statistics_checkpoint";
// Creates the group's datasets (zeros), with the conditions, bins and descriptions in the
// main group and the electrode attributes on each mean dataset.
void create_statistics(hid_t root, const char* group, const RecordingHeader& h);
// Bytes of one group's datasets for `width` units in all: a count (int64) and a mean and an
// M2 (float64) per unit, per condition x bin. The file holds two groups (the checkpoint).
inline double statistics_bytes(int64_t n_conditions, int64_t n_bins, int64_t width) {
  return double(n_conditions) * double(n_bins) * (8 + 2 * 8 * double(width));
}
void write_statistics(hid_t root, const char* group, const std::vector<ElectrodeSpec>& electrodes,
                      const std::vector<Moments>& m);
std::vector<Moments> read_statistics(hid_t root, const char* group, const std::vector<ElectrodeSpec>& electrodes);
// The bin spec and conditions stored in /statistics.
BinSpec read_bin_spec(hid_t root);
std::vector<std::string> read_statistics_conditions(hid_t root);

}  // namespace rig
