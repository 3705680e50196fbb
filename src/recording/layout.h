#pragma once
// The recording file's fixed names (docs/FORMAT.md), shared by the writer and the reader.
#include <cstdint>

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

struct Column {
  const char* name;
  h5::Dtype type;
};

// /trials/<column>, one row per trial, in this order.
inline constexpr Column kTrialColumns[] = {
    {"index", h5::Dtype::kInt64},          {"stimulus", h5::Dtype::kInt64},
    {"condition", h5::Dtype::kString},     {"repetition", h5::Dtype::kInt64},
    {"seed", h5::Dtype::kUInt64},          {"stimulation", h5::Dtype::kString},
    {"prompt", h5::Dtype::kString},        {"response", h5::Dtype::kString},
    {"n_prompt_tokens", h5::Dtype::kInt64}, {"n_generated", h5::Dtype::kInt64},
    {"row_start", h5::Dtype::kInt64},      {"row_stop", h5::Dtype::kInt64},
    {"finish_reason", h5::Dtype::kString},
};

// /tokens/<column>, one row per time step.
inline constexpr Column kTokenColumns[] = {
    {"trial", h5::Dtype::kInt64},  {"position", h5::Dtype::kInt64}, {"token_id", h5::Dtype::kInt64},
    {"text", h5::Dtype::kString},  {"generated", h5::Dtype::kUInt8},
};

// /events/<name>/<column>
inline constexpr Column kEventColumns[] = {{"trial", h5::Dtype::kInt64}, {"row", h5::Dtype::kInt64}};

}  // namespace rig::layout
