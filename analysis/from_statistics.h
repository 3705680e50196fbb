#pragma once
// `rig analyze` on a statistics recording (recording.store: statistics, docs/FORMAT.md): what
// the per condition x bin moments allow. PSTHs (mean, SD, SEM, n), condition-average PCA, and
// per bin (results /time) and in the selectivity window (when the window is one bin of the
// file) d', selectivity index, Student's and Welch's t and the one-way ANOVA F, p and eta^2,
// with the same formulas as from trials (stats.h). What needs single trials (AUC,
// permutation tests, clusters, decoding, smoothing and baselines) is left out, and said so in
// Results::notes.
#include "analysis/analysis_config.h"
#include "analysis/results.h"

namespace rig {
class RecordingReader;
}

namespace rig::analysis {

// rec.is_statistics(); cfg passed check_against(cfg, rec). The bins are the file's: an
// analysis config asking for others gets a note.
Results analyze_statistics(const RecordingReader& rec, const AnalysisConfig& cfg);

}  // namespace rig::analysis
