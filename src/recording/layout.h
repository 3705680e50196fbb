#pragma once
// The recording file's fixed names (docs/FORMAT.md), shared by the writer and the reader.
#include <cstdint>
#include <iterator>
#include <string>
#include <variant>

#include "core/trial.h"
#include "io/hdf5.h"

namespace rig::layout {

inline constexpr const char* kFormat = "rig-recording";
inline constexpr int64_t kFormatVersion = 1;

// Root attributes the writer owns (header attributes of the same name are overwritten).
inline constexpr const char* kAttrFormat = "format";
inline constexpr const char* kAttrFormatVersion = "format_version";
inline constexpr const char* kAttrRigVersion = "rig_version";
inline constexpr const char* kAttrGitCommit = "rig_git_commit";
inline constexpr const char* kAttrCreated = "created";
inline constexpr const char* kAttrTrialsPlanned = "n_trials_planned";
inline constexpr const char* kAttrTrialsCommitted = "n_trials_committed";
inline constexpr const char* kAttrRowsCommitted = "n_rows_committed";
inline constexpr const char* kAttrResumes = "n_resumes";
inline constexpr const char* kAttrConfigHash = "config_hash";
// A random UUID naming this file: kept by --resume and the compressed copy; a merge gets a
// new one and lists its shards' in kAttrSourceIdentifiers (1-D strings, in shard order).
inline constexpr const char* kAttrIdentifier = "identifier";
inline constexpr const char* kAttrSourceIdentifiers = "source_identifiers";
// The element type of every recording ("float32" | "float16"). The root attribute `dtype` is
// the model's compute dtype (run provenance); files of rig before this attribute existed
// held the recording dtype there instead.
inline constexpr const char* kAttrRecordingDtype = "recording_dtype";
// "raw" (rows in /recordings) or "statistics" (moments in /statistics, no rows); absent in
// files of rig before statistics: raw.
inline constexpr const char* kAttrStore = "store";
// store statistics: the trials and rows that /statistics_checkpoint holds, set once that copy
// is complete (see the writer's commit).
inline constexpr const char* kAttrCheckpointTrials = "statistics_checkpoint_trials";
inline constexpr const char* kAttrCheckpointRows = "statistics_checkpoint_rows";

// A column of a table (a group of equal-length 1-D columns, hdmf's DynamicTable): its name,
// element type and the `description` attribute it carries in the file. The table's
// `colnames` attribute lists the columns in the order of these lists.
struct Column {
  const char* name;
  h5::Dtype type;
  const char* description;
};

// Where a /trials column's value is: a member of the trial (TrialFields, as the runner made
// it), or of its TrialSpan, which the writer computes (where it appends the trial's rows).
using TrialMember = std::variant<int64_t TrialFields::*, uint64_t TrialFields::*, std::string TrialFields::*,
                                 FinishReason TrialFields::*, int64_t TrialSpan::*>;

// A /trials column: its name, description and member; its element type follows from the
// member's (a FinishReason is stored as its name, a string).
struct TrialColumn {
  const char* name;
  h5::Dtype type;
  const char* description;
  TrialMember member;
  constexpr TrialColumn(const char* n, TrialMember m, const char* d)
      : name(n), type(dtype_of(m)), description(d), member(m) {}
  // row_start and row_stop: the writer's, not the trial's (the writer process does not carry them).
  constexpr bool computed() const { return std::holds_alternative<int64_t TrialSpan::*>(member); }

 private:
  static constexpr h5::Dtype dtype_of(const TrialMember& m) {
    switch (m.index()) {
      case 0:
      case 4: return h5::Dtype::kInt64;
      case 1: return h5::Dtype::kUInt64;
      case 2:
      case 3: return h5::Dtype::kString;
    }
    throw "a TrialMember alternative without an HDF5 type";  // in kTrialColumns: a compile error
  }
};

// /trials/<column>, one row per trial, in this order: the one list of a trial's values. The
// writer, the writer process's socket, the reader, merge and docs/FORMAT.md's table
// (tests/unit/recording/test_trial_columns.cc) all go through it.
inline constexpr const char* kTrialsDescription = "one row per trial, in the order the trials were committed";
inline constexpr TrialColumn kTrialColumns[] = {
    {"index", &TrialFields::index, "the trial's index in the experiment's full trial list"},
    {"stimulus", &TrialFields::stimulus, "row of /stimuli the trial presented"},
    {"condition", &TrialFields::condition, "the stimulus's condition"},
    {"repetition", &TrialFields::repetition, "repetition of the stimulus, from 0"},
    {"seed", &TrialFields::seed, "seed of the trial's sampling"},
    {"stimulation", &TrialFields::stimulation, "name of the stimulation the trial got; empty: none"},
    {"prompt", &TrialFields::prompt, "the prompt text"},
    {"response", &TrialFields::response, "the generated tokens, decoded"},
    {"n_prompt_tokens", &TrialFields::n_prompt_tokens, "tokens of the prompt (its first rows)"},
    {"n_generated", &TrialFields::n_generated, "generated tokens (the rows after the prompt's)"},
    {"row_start", &TrialSpan::row_start, "first row of the trial in /tokens and every recording (0-based)"},
    {"row_stop", &TrialSpan::row_stop, "one past the trial's last row (0-based, exclusive)"},
    {"finish_reason", &TrialFields::finish_reason, "why generation stopped: prompt_only, length or eos"},
};

// The position of column `name` in kTrialColumns (a compile-time lookup: a typo fails to build).
constexpr size_t trial_column(const char* name) {
  for (size_t i = 0; i < std::size(kTrialColumns); ++i) {
    const char *a = kTrialColumns[i].name, *b = name;
    while (*a && *a == *b) ++a, ++b;
    if (*a == *b) return i;
  }
  throw "no such /trials column";
}

// /tokens/<column>, one row per time step.
inline constexpr const char* kTokensDescription =
    "one row per time step (token) of every trial, end to end; row r is row r of every recording";
inline constexpr Column kTokenColumns[] = {
    {"trial", h5::Dtype::kInt64, "index of the trial the row belongs to (/trials/index)"},
    {"position", h5::Dtype::kInt64, "position within the trial, 0 = its first prompt token"},
    {"token_id", h5::Dtype::kInt64, "the token's id in the model's vocabulary"},
    {"text", h5::Dtype::kString, "the token decoded alone"},
    {"generated", h5::Dtype::kUInt8, "1: a generated token, 0: a prompt token"},
};

// /events/<name>/<column>
inline constexpr const char* kEventDescription = "one row per occurrence of the event";
inline constexpr Column kEventColumns[] = {
    {"trial", h5::Dtype::kInt64, "index of the trial the event happened in (/trials/index)"},
    {"row", h5::Dtype::kInt64, "absolute row of the event in /tokens and every recording (0-based)"},
};

// /stimuli/<column>: these, then one string column per extra stimulus field.
inline constexpr const char* kStimuliDescription = "one row per stimulus of the experiment";
inline constexpr Column kStimulusColumns[] = {
    {"index", h5::Dtype::kInt64, "the stimulus's index (row)"},
    {"condition", h5::Dtype::kString, "the stimulus's condition"},
    {"prompt", h5::Dtype::kString, "the prompt text"},
};
inline constexpr const char* kStimulusFieldDescription = "extra stimulus field from the stimulus file (text)";

// /electrodes/<column>, one row per recorded electrode, in the experiment's order: row i
// describes the recording whose `index` attribute is i.
inline constexpr const char* kElectrodesDescription =
    "one row per electrode (recorded site and side); row i is the recording with attribute index = i";
inline constexpr Column kElectrodeColumns[] = {
    {"site", h5::Dtype::kString, "the Hugging Face module name (named_modules())"},
    {"side", h5::Dtype::kString, "input or output of the module"},
    {"module_type", h5::Dtype::kString, "the module's Hugging Face class name"},
    {"width", h5::Dtype::kInt64, "neurons recorded (columns of the recording)"},
    {"layer", h5::Dtype::kInt64, "index of the decoder layer holding the site; -1: outside the layers"},
    {"alias", h5::Dtype::kString, "the TransformerLens hook name the config used for it; empty: none"},
};
inline constexpr const char* kRecordingsDescription =
    "activations of one electrode: row r is row r of /tokens, column j neuron j (or neurons[j])";
inline constexpr const char* kSaeRecordingsDescription =
    "SAE latents of one electrode (attribute sae): row r is row r of /tokens, column j < site_width - 1 latent j, "
    "the last column the norm of the reconstruction error |x - decode(encode(x))|";

}  // namespace rig::layout
