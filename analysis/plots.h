#pragma once
// Figures of analysis results and recordings, drawn with cairo. The file's extension picks the
// format: .png (raster) or .svg (vector). Every figure has a title, labelled axes with ticks,
// and a colour bar where colour carries a value.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "analysis/results.h"

namespace rig {
class RecordingReader;
}

namespace rig::analysis {

// Neurons x time heatmap of one condition's PSTH mean (viridis, 1st..99th percentile).
void plot_heatmap_mean(const Results& r, size_t site, int condition, const std::filesystem::path& out);
// Neurons x rows heatmap of one trial (file row `trial` of /trials) of electrode e, with the
// tokens' text under the time axis when there is room.
void plot_heatmap_trial(const RecordingReader& rec, size_t electrode, size_t trial, const std::filesystem::path& out);
// PSTH curves (mean with a +-SEM band) of the given neurons (columns of the site) for the given
// conditions, one panel per neuron.
void plot_psth(const Results& r, size_t site, const std::vector<int64_t>& columns, const std::vector<int>& conditions,
               const std::filesystem::path& out);
// d' of every neuron (columns) of every analysed electrode (rows, in layer order) on a
// diverging scale, beside the fraction of each electrode's neurons with permutation q < alpha
// (ANOVA q when there was no permutation test).
void plot_selectivity_map(const Results& r, const std::filesystem::path& out);
// Histogram of d' over all analysed neurons (or one site's when site is given).
void plot_dprime_hist(const Results& r, const std::filesystem::path& out, int64_t site = -1);

}  // namespace rig::analysis
