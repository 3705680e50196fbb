#pragma once
// The data of one finished trial, as the runner hands it to a recording sink, and the
// description of a recording (what the file holds besides trials). No LibTorch here: the
// recording layer sees plain float rows. In core because experiment, recording, runner and
// analysis all share these types.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/events.h"
#include "core/fields.h"
#include "core/site_info.h"

namespace rig {

// One recorded stream: a site's input or output, all neurons or a subset.
struct ElectrodeSpec {
  std::string site;  // HF module path
  Side side = Side::kOutput;
  std::string module_type;       // HF class name
  int64_t site_width = 0;        // the site's full width
  std::vector<int64_t> neurons;  // the recorded subset (sorted, unique); empty = all
  int64_t layer = -1;            // decoder layer holding the site (SiteInfo::layer); -1: none
  std::string alias;             // the TransformerLens name the config used for it; "" = none
  int64_t heads = 0;             // sites inside attention: the site's width is heads x per head
  std::string head_axis;         // what a head's columns are (SiteInfo::axis); "" elsewhere
  // An SAE electrode (src/sae): the directory of its SAE. Its units are the SAE's latents,
  // then one more, the reconstruction error's norm: site_width == d_sae + 1 (docs/FORMAT.md).
  std::string sae;
  std::map<std::string, std::string> sae_attrs;  // the SAE's description: the dataset's attributes
  int64_t width() const { return neurons.empty() ? site_width : int64_t(neurons.size()); }
  // Dataset path inside the file: /recordings/<site>/<side>
  std::string dataset_path() const { return "/recordings/" + site + "/" + side_name(side); }
};

// One stimulus: a prompt with its condition and any extra fields (from .jsonl or template vars).
struct StimulusRow {
  int64_t index = 0;
  std::string condition;
  std::string prompt;
  std::map<std::string, FieldValue> extra;  // column name -> value
};

// One time step of a trial: a token the model processed.
struct TokenRow {
  int64_t position = 0;  // position within the trial (0 = first prompt token)
  int64_t token_id = 0;
  std::string text;  // the token's text as the tokenizer decodes it alone
  bool generated = false;
};

// Why a trial's generation stopped. /trials/finish_reason holds finish_reason_name()'s text.
enum class FinishReason { kPromptOnly, kLength, kEos };

inline const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kPromptOnly: return "prompt_only";
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
  }
  return "?";
}
inline constexpr const char* kFinishReasonList = "prompt_only, length or eos";  // for messages

// The reason named `name`; false (and *out unchanged) for another text.
inline bool parse_finish_reason(const std::string& name, FinishReason* out) {
  for (FinishReason r : {FinishReason::kPromptOnly, FinishReason::kLength, FinishReason::kEos})
    if (name == finish_reason_name(r)) {
      *out = r;
      return true;
    }
  return false;
}

// A trial as the experiment plans it (experiment/config.h's expand_trials): the first values
// of its TrialFields, which the runner then completes.
struct TrialSpec {
  int64_t index = 0;     // trial index in the experiment's full trial list (presentation order)
  int64_t stimulus = 0;  // index into the stimuli table
  std::string condition;
  int64_t repetition = 0;
  uint64_t seed = 0;  // trial_seed(cfg.seed, repetition * n_stimuli + stimulus)
};

// A trial's own values, one /trials column each. recording/layout.h's kTrialColumns names
// them, with their types and descriptions, and every copy of a trial (the writer, the writer
// process's socket, the reader, merge) goes through that list: a field added here needs its
// entry there, and nowhere else.
struct TrialFields : TrialSpec {
  std::string stimulation;  // name of the stimulation the trial got ("" = none)
  std::string prompt;
  std::string response;  // decoded generated text
  int64_t n_prompt_tokens = 0;
  int64_t n_generated = 0;
  FinishReason finish_reason = FinishReason::kPromptOnly;
};

// The trial's built-in events (core/events.h): name -> row within the trial.
inline std::map<std::string, int64_t> builtin_events(const TrialFields& t) {
  return builtin_events(t.n_prompt_tokens, t.n_generated, t.finish_reason == FinishReason::kEos);
}

// Where a trial's rows lie in a recording: rows [row_start, row_stop) of /tokens and of every
// recording. The writer assigns them as it appends the trial.
struct TrialSpan {
  int64_t row_start = 0;
  int64_t row_stop = 0;
  int64_t n_rows() const { return row_stop - row_start; }
};

struct TrialResult : TrialFields {
  std::vector<TokenRow> tokens;           // one per row
  std::map<std::string, int64_t> events;  // event name -> row within the trial
  // One matrix per electrode, in RecordingHeader::electrodes order:
  // rows x width, row-major, rows == tokens.size().
  std::vector<std::vector<float>> recordings;
};

// Root attributes that say what produced a recording (model/provenance.h computes them):
// `--resume` and `rig merge` refuse files that differ in any of them. A file of a rig from
// before them has none, and is not refused for that.
inline constexpr const char* kProvenanceAttrs[] = {"weights_sha256",   "weights_files_sha256", "config_json_sha256",
                                                   "tokenizer_sha256", "libtorch_version",     "hdf5_version",
                                                   "compiler"};

// The aligned bins of `recording: {store: statistics}` (docs/FORMAT.md, "Statistics"): the
// rows at offsets -pre..+post from each trial's `event` row, cut into bins of `bin` rows, as
// the analysis aligns them (analysis/alignment.h; the same defaults as `analysis:`).
struct BinSpec {
  std::string event = "prompt_onset";
  int64_t pre = 0, post = 15, bin = 1;
  int64_t length() const { return pre + post + 1; }
  int64_t n_bins() const { return (length() + bin - 1) / bin; }
  // Bin j holds offsets [bin_start(j), bin_stop(j)) from the event row.
  int64_t bin_start(int64_t j) const { return j * bin - pre; }
  int64_t bin_stop(int64_t j) const { return std::min((j + 1) * bin, length()) - pre; }
};

// Everything about a recording except its trials.
struct RecordingHeader {
  std::map<std::string, std::string> attrs;  // root attributes (strings): config, model, ...
  std::map<std::string, int64_t> int_attrs;  // root attributes (integers): seed, ...
  std::vector<StimulusRow> stimuli;
  std::vector<ElectrodeSpec> electrodes;
  std::vector<std::string> events;  // event names (a group each, even if empty)
  std::string dtype = "float32";    // float32 | float16 (on disk)
  int compression = 0;              // 0 = none, 1..9 = gzip level
  int64_t n_trials_planned = 0;     // trials in the full experiment
  // "raw": every row of every electrode (/recordings); "statistics": per condition x aligned
  // bin, the count, mean and M2 of each unit over trials (/statistics), no rows.
  std::string store = "raw";
  BinSpec bins;  // with store "statistics"
};

}  // namespace rig
