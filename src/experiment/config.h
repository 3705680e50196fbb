#pragma once
// The experiment config: `rig run configs/x.yaml [--set key.path=value ...]`.
//
// load_experiment() decodes and checks everything knowable without the model (keys, types,
// ranges, files, stimuli, regexes); resolve_electrodes() checks the site selectors against a
// model's SiteCatalog. Every failure is a rig::ConfigError whose message starts with
// `FILE:LINE:COLUMN: KEY.PATH: ` (or `--set KEY.PATH=VALUE: ` for an override), then says what
// was expected and what was found. docs/CONFIG.md describes every key.
//
// Key paths are dotted, with sequence indices as numbers (`stimuli.0.prompts`): the same
// spelling `--set` accepts, so a path in an error can be pasted into an override.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/generate_config.h"
#include "core/model_source.h"
#include "core/regex.h"

#include <yaml-cpp/yaml.h>

#include "core/site_alias.h"
#include "core/site_info.h"
#include "core/trial.h"

namespace rig {

// Where a value came from, for messages raised after loading (resolve_electrodes, later
// issues' stimulation/analysis decoding). `prefix` is ready to print: "configs/x.yaml:14:5:
// electrodes.1.site" or "--set electrodes.1.site=foo".
struct ConfigOrigin {
  std::string prefix;
  std::string error(const std::string& what) const { return prefix + ": " + what; }
};

// One `--set KEY.PATH=VALUE`, as given.
struct ConfigOverride {
  std::string text;               // "trials.repetitions=10"
  std::vector<std::string> path;  // {"trials", "repetitions"}
  std::string sweep_at;           // a `sweep:` value: "FILE:LINE:COL: sweep.KEY.PATH" of its key, else ""
};

// The config file and overrides a config came from; formats message prefixes for any node of
// the resolved tree (including `stimulation:` and `analysis:`, which later issues decode).
struct ConfigSource {
  std::string file;                       // the config path as given
  std::vector<ConfigOverride> overrides;  // in command-line order
  // "FILE:LINE:COL: KEY.PATH" or "--set K=V" (+ ": KEY.PATH" when deeper than the override).
  std::string where(const YAML::Node& node, const std::vector<std::string>& key_path) const;
};

// `model:`: the model source (core/model_source.h), and where its id was written.
struct ModelSpec : ModelSource {
  ConfigOrigin id_origin;  // of `id` (file:line:col), for "not in the cache"
};

// One `stimuli:` entry: exactly one of prompts / file / template.
struct StimulusSet {
  std::string condition;
  std::vector<std::string> prompts;
  std::string file;       // .txt (one prompt per line) or .jsonl ("prompt" + extra fields)
  std::string template_;  // YAML key `template`; {var} placeholders, {{ }} for literal braces
  std::vector<std::pair<std::string, std::vector<std::string>>> vars;  // in YAML order
  std::vector<std::string> stimulation;                                // names of `stimulation:` entries its trials get
  ConfigOrigin origin;                                                 // of the entry
  ConfigOrigin stimulation_origin;                                     // of `stimulation` (== origin when absent)
};

enum class SiteMatch { kExact, kGlob, kRegex };

// One `electrodes:` entry before it is matched against a model.
struct ElectrodeSelector {
  std::string site;  // as written: exact name, glob (* ? **) or /regex/
  SiteMatch match = SiteMatch::kExact;
  Side side = Side::kOutput;
  bool side_given = false;  // `side` was written (an alias brings its own side)
  // Neuron subset as half-open ranges [first, last); last == -1 means "to the site's width".
  // Empty = all neurons. A single index i is {i, i + 1}.
  std::vector<std::pair<int64_t, int64_t>> neurons;
  ConfigOrigin origin;          // of `site`
  ConfigOrigin neurons_origin;  // of `neurons` (== origin when absent)
  // A sparse autoencoder in SAELens's format (a directory with cfg.json): the electrode
  // records its latents instead of the site's neurons (src/sae, docs/FORMAT.md). "" = none.
  std::string sae;
  ConfigOrigin sae_origin;  // of `sae` (== origin when absent)
};

enum class TrialOrder { kSequential, kShuffled };

struct TrialsConfig {
  int64_t repetitions = 1;
  TrialOrder order = TrialOrder::kSequential;
  int64_t batch_size = 1;
  GenerateConfig generate;
  bool add_special_tokens = true;  // the tokenizer's post-processor (BOS for Llama)
};

enum class EventScope { kAny, kPrompt, kResponse };

// One `events:` entry. Built-ins (prompt_onset, response_onset, eos) take no matcher; any
// other name needs token_text.
struct EventSpec {
  std::string name;
  std::string token_text;            // "" for built-ins; "/.../" = regex (whole token text)
  EventScope in = EventScope::kAny;  // which rows to search
  bool builtin = false;
  ConfigOrigin origin;
  std::shared_ptr<const SafeRegex> regex;  // set when token_text is /regex/ (PCRE2, limited)
  // Whether a token's text (as decoded alone) fires this event: the text with leading and
  // trailing whitespace removed equals token_text, or matches the regex in full.
  bool matches(const std::string& text) const;
};

// recording.bins: the bins, and where the event was written (checked against `events:`).
struct BinsConfig : BinSpec {
  ConfigOrigin event_origin;
};

struct RecordingConfig {
  std::string path;               // default data/recordings/<name>.h5
  std::string dtype = "float32";  // float32 | float16 (on disk)
  int compression = 0;            // YAML none | gzip:N -> 0 | N (1..9)
  // raw: every row (/recordings); statistics: per condition x aligned bin (`bins`), count,
  // mean and M2 of every unit (/statistics, docs/FORMAT.md)
  std::string store = "raw";
  BinsConfig bins;
};

// One `sweep:` axis: a key path and the values it takes, one variant each (docs/CONFIG.md).
struct SweepAxis {
  std::string key;                  // dotted key path, e.g. "model.revision"
  std::vector<std::string> values;  // each value as YAML (flow style), in the file's order
  ConfigOrigin origin;              // of the key in `sweep:`
};

struct ExperimentConfig {
  std::string name;
  uint64_t seed = 0;
  ModelSpec model;
  std::vector<StimulusSet> stimulus_sets;  // `stimuli:` as written
  std::vector<StimulusRow> stimuli;        // expanded, index = position
  std::vector<int64_t> stimulus_set;       // per stimulus: index of its `stimuli:` entry
  std::vector<ElectrodeSelector> electrodes;
  TrialsConfig trials;
  std::vector<EventSpec> events;
  RecordingConfig recording;
  YAML::Node
      stimulation;      // `stimulation:` list as written (Null when absent); checked with the model by src/stimulation
  YAML::Node analysis;  // `analysis:` mapping as written (Null when absent); not validated

  // `sweep:` axes (empty = no sweep). Variants are their cartesian product, the last axis
  // varying fastest; this config is variant `sweep_index` (-1: no sweep, or none chosen).
  std::vector<SweepAxis> sweep;
  int64_t sweep_index = -1;

  ConfigSource source;        // for messages about stimulation / analysis nodes
  std::string resolved_yaml;  // every key with its value after defaults and overrides
  std::string config_hash;    // 16 hex digits, FNV-1a 64 of the experiment's identity
};

// Reads, applies overrides ("key.path=value", value parsed as YAML), decodes and checks.
// Throws ConfigError.
// With a `sweep:`, every variant is decoded and checked; the result is variant `sweep_index`
// (its values applied after the overrides, recording.path suffixed per variant), or with
// sweep_index -1 variant 0 marked as not chosen (config.sweep_index == -1): enough to list
// the variants, not to run. ConfigError for a sweep_index without a sweep or out of range.
ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides = {},
                                 int64_t sweep_index = -1);

// Same, from YAML text; `file` names it in messages and relative stimuli files still resolve
// against the working directory.
ExperimentConfig parse_experiment(const std::string& yaml_text, const std::string& file,
                                  const std::vector<std::string>& overrides = {}, int64_t sweep_index = -1);

// Number of sweep variants (0 without a sweep).
int64_t sweep_size(const ExperimentConfig& cfg);
// Variant k's values: (key path, value as YAML), one per axis.
std::vector<std::pair<std::string, std::string>> sweep_values(const ExperimentConfig& cfg, int64_t k);
// "model.revision=step1000, model.dtype=float16"
std::string sweep_label(const ExperimentConfig& cfg, int64_t k);

// Matches the selectors against a model's sites. Result in catalog order (input before
// output of one site); a (site, side) selected twice is merged (union of neurons; all wins).
// Throws ConfigError naming the electrode's file:line:col.
// A site may also be named by one of the model's aliases (TransformerLens's hook names,
// model/hook_names.h), which brings its side; a pattern that matches no site name is matched
// against the aliases.
std::vector<ElectrodeSpec> resolve_electrodes(const ExperimentConfig& cfg, const SiteCatalog& catalog,
                                              const SiteAliases& aliases = {});

// The trials to run (core/trial.h's TrialSpec), one per (stimulus, repetition): sequential =
// repetition-major (all stimuli, then again), or that list shuffled by a Fisher-Yates shuffle
// seeded by cfg.seed (see docs/CONFIG.md).
std::vector<TrialSpec> expand_trials(const ExperimentConfig& cfg);

// The k-th output (k = 0, 1, ...) of SplitMix64 started at `seed`.
uint64_t trial_seed(uint64_t seed, uint64_t k);

// "trials.batch_size" -> "8", ... for every scalar key of the resolved config (HDF5 attrs).
std::vector<std::pair<std::string, std::string>> config_attributes(const ExperimentConfig& cfg);

}  // namespace rig
