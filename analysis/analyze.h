#pragma once
// The analysis driver: aligns trials, streams each electrode's rows in chunks (two passes when
// decoding: centroids first, then the held-out trials), and computes PSTHs, selectivity, PCA
// and decoding. Memory per electrode: one chunk of rows (chunk_rows x W floats), the
// accumulators ([conditions x bins x W], and [folds x conditions x bins x W] for decoding),
// and one window mean per included trial and neuron (trials x W doubles), whatever the file
// size.
#include <functional>
#include <string>

#include "analysis/analysis_config.h"
#include "analysis/results.h"
#include "core/trial.h"

namespace rig {
class RecordingReader;
}

namespace rig::analysis {

// Progress: called after each electrode with (electrodes done, total, the electrode's key).
using Progress = std::function<void(size_t, size_t, const std::string&)>;

// The results' description of what was analysed, for both kinds of recording: the recording,
// the config, and the aligned window `bins` (the config's for raw rows, the file's for a
// statistics recording); the window defaults to the whole aligned span.
Results results_header(const RecordingReader& rec, const AnalysisConfig& cfg, const BinSpec& bins);

// cfg must have passed check_against(cfg, rec). recording_name is stored in the results.
Results analyze(const RecordingReader& rec, const AnalysisConfig& cfg, const Progress& progress = {});

}  // namespace rig::analysis
