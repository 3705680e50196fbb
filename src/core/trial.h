#pragma once
// The data of one finished trial, as the runner hands it to a recording sink, and the
// description of a recording (what the file holds besides trials). No LibTorch here: the
// recording layer sees plain float rows. In core because experiment, recording, runner and
// analysis all share these types.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/site_info.h"

namespace rig {

// One recorded stream: a site's input or output, all neurons or a subset.
struct ElectrodeSpec {
  std::string site;                // HF module path
  Side side = Side::kOutput;
  std::string module_type;         // HF class name
  int64_t site_width = 0;          // the site's full width
  std::vector<int64_t> neurons;    // the recorded subset (sorted, unique); empty = all
  int64_t layer = -1;              // decoder layer holding the site (SiteInfo::layer); -1: none
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
  std::map<std::string, std::string> extra;  // column name -> value (strings)
};

// One time step of a trial: a token the model processed.
struct TokenRow {
  int64_t position = 0;  // position within the trial (0 = first prompt token)
  int64_t token_id = 0;
  std::string text;      // the token's text as the tokenizer decodes it alone
  bool generated = false;
};

struct TrialResult {
  int64_t index = 0;         // trial index in the experiment's full trial list
  int64_t stimulus = 0;      // index into the stimuli table
  std::string condition;
  int64_t repetition = 0;
  uint64_t seed = 0;
  std::string stimulation;   // name of the stimulation the trial got ("" = none)
  std::string prompt;
  std::string response;      // decoded generated text
  int64_t n_prompt_tokens = 0;
  int64_t n_generated = 0;
  std::string finish_reason; // "prompt_only" | "length" | "eos"
  std::vector<TokenRow> tokens;                  // one per row
  std::map<std::string, int64_t> events;         // event name -> row within the trial
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

// Everything about a recording except its trials.
struct RecordingHeader {
  std::map<std::string, std::string> attrs;      // root attributes (strings): config, model, ...
  std::map<std::string, int64_t> int_attrs;      // root attributes (integers): seed, ...
  std::vector<StimulusRow> stimuli;
  std::vector<ElectrodeSpec> electrodes;
  std::vector<std::string> events;               // event names (a group each, even if empty)
  std::string dtype = "float32";                 // float32 | float16 (on disk)
  int compression = 0;                           // 0 = none, 1..9 = gzip level
  int64_t n_trials_planned = 0;                  // trials in the full experiment
};

}  // namespace rig
