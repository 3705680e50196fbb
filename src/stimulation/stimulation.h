#pragma once
// Stimulation: changing a site's activations during a trial (lesions and microstimulation).
// The experiment config's `stimulation:` list (docs/STIMULATION.md) is decoded and checked
// against the model here, before anything runs; a StimulationRun then applies it inside the
// forward passes of one batch through the same SiteHooks the recorder uses. Its hooks go in
// BEFORE the recorder's, so recordings show the stimulated values and their downstream effects.
//
// Ops on the selected neurons x[b, t, n] of the selected rows (all others pass through):
//   set          x = value                    (value 0: zero ablation)
//   mean-ablate  x = mean[n]                  (a condition's mean from a recording)
//   scale        x = factor * x
//   add          x = x + scale * vector[n]    (activation addition, steering)
//   patch        x = source[t, n]             (the same site of another stimulus' trial)
// With `sae:`, set and scale act on the SAE's latents a = encode(x) instead, and reach the
// site as a decoder delta, so the SAE's reconstruction error stays in x:
//   x = x + decode(a') - decode(a)             (= x + sum_k (a'_k - a_k) W_dec[k] without normalisation)
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "experiment/config.h"
#include "model/causal_lm.h"
#include "model/generate.h"
#include "sae/electrodes.h"
#include "sae/sae.h"
#include "stimulation/rows.h"

namespace rig {

enum class StimOp { kSet, kMeanAblate, kScale, kAdd, kPatch };
const char* stim_op_name(StimOp op);

// One intervention on one (site, side): a `stimulation:` entry whose site selector matched
// several sites becomes one Intervention per site.
struct Intervention {
  size_t entry = 0;    // index in `stimulation:`
  std::string name;    // the stimulation it belongs to ("stimulation.<entry>" when unnamed)
  bool named = false;  // named: only trials whose stimuli entry lists it; unnamed: every trial
  std::string site;    // canonical site name
  Side side = Side::kOutput;
  int site_id = -1;
  int64_t site_width = 0;
  std::vector<int64_t> neurons;  // sorted, unique; empty = all
  RowSelector positions;
  StimOp op = StimOp::kSet;
  double value = 0;                // set
  double factor = 1;               // scale
  std::vector<float> vector;       // add: scale * vector; mean-ablate: the means (one per selected neuron)
  std::string vector_from;         // where vector came from, for describe()
  int64_t source_stimulus = -1;    // patch: a fixed source stimulus, or -1 ...
  std::string source_condition;    // ... the k-th stimulus of this condition for a target that is the k-th of its own
  std::string origin;              // "FILE:LINE:COL: stimulation.N" for messages
  std::shared_ptr<const Sae> sae;  // set / scale the SAE's `latents` instead of neurons (null: neurons)
  std::string sae_dir;             // as the config names it
  std::vector<int64_t> latents;    // sorted, unique

  int64_t width() const { return neurons.empty() ? site_width : int64_t(neurons.size()); }
};

class Stimulation {
 public:
  Stimulation() = default;
  // Decodes and checks cfg.stimulation and the stimuli entries' `stimulation` keys against the
  // model's sites: selectors, neurons, vector widths, recordings, patch sources, events.
  // Throws ConfigError ("FILE:LINE:COL: stimulation.N.KEY: expected ..., got ...").
  // prompt_ids: each stimulus' tokens (for response_onset).
  // saes: SAEs already loaded (the runner's, for its SAE electrodes); those the entries name
  // are added to it, so each SAE is loaded once. Null: loaded here.
  static Stimulation from_config(const ExperimentConfig& cfg, CausalLM& model,
                                 const std::vector<std::vector<int64_t>>& prompt_ids, SaeSet* saes = nullptr);

  bool empty() const { return interventions_.empty(); }
  const std::vector<Intervention>& interventions() const { return interventions_; }
  // Indices of the interventions stimulus s gets.
  const std::vector<size_t>& for_stimulus(int64_t s) const { return per_stimulus_.at(size_t(s)); }
  // The trial table's `stimulation` column for stimulus s: its stimulations' names joined
  // by '+', in config order ("" = none).
  const std::string& label(int64_t s) const { return labels_.at(size_t(s)); }
  // Patch source of intervention i for target stimulus s (checked by from_config).
  int64_t patch_source(size_t i, int64_t s) const;
  // For the dry-run plan: one line per intervention.
  std::string describe() const;

  // Events usable in positions: known before generation (name -> row, per stimulus).
  // from_config fills prompt_onset and response_onset; the runner adds token-text events
  // with `in: prompt` found in the prompt's tokens.
  std::vector<std::map<std::string, int64_t>>& prompt_events() { return prompt_events_; }
  const std::vector<std::map<std::string, int64_t>>& prompt_events() const { return prompt_events_; }

  // Seed a patch source's run uses (the source stimulus' own trial of that repetition).
  uint64_t source_seed(int64_t source_stimulus, int64_t repetition) const;

 private:
  std::vector<Intervention> interventions_;
  std::vector<std::vector<size_t>> per_stimulus_;
  std::vector<std::string> labels_;
  std::vector<std::string> stimulus_condition_;
  std::vector<std::map<std::string, int64_t>> prompt_events_;
  uint64_t seed_ = 0;
  int64_t n_stimuli_ = 0;
};

// One trial of a batch, as the stimulation needs it.
struct StimTrial {
  int64_t stimulus = 0;
  int64_t repetition = 0;
  std::vector<int64_t> prompt;  // token ids
};

// The stimulation of one batch: hooks that apply each trial's interventions at its rows, in
// every forward call of one generate() (the prefill, then one call per generated token).
// Rows are tracked per sequence: in the prefill, row t of sequence b is trial position
// t - (T - n_prompt_b) (prompts are left-padded); in call k >= 1 it is n_prompt_b + k - 1.
class StimulationRun {
 public:
  // Runs the batch's patch sources first (their own unstimulated trials, same generation
  // options) to capture their activations at the patched sites.
  StimulationRun(const Stimulation& stim, CausalLM& model, std::vector<StimTrial> batch,
                 const std::vector<std::vector<int64_t>>& prompt_ids, const GenerateOptions& options,
                 at::Device device);
  // Adds one hook per stimulated (site, side); call before the recorder attaches its hooks.
  void attach(SiteHooks& hooks);
  bool active() const { return !sites_.empty(); }

 private:
  struct Site {
    int site = -1;
    Side side = Side::kOutput;
    std::vector<size_t> interventions;  // indices into stim_->interventions()
    int calls = 0;                      // forward calls seen so far
  };
  at::Tensor apply(Site& s, const at::Tensor& x);
  at::Tensor positions(int call, int64_t T) const;  // [B, T] int64, trial row of each cell (-1 = padding)

  const Stimulation* stim_ = nullptr;
  std::vector<StimTrial> batch_;
  int64_t T0_ = 0;  // padded prompt length
  std::vector<Site> sites_;
  // Per intervention: rows [lo, hi) per sequence (lo >= hi: not applied to that sequence).
  std::map<size_t, std::pair<at::Tensor, at::Tensor>> bounds_;
  std::map<size_t, at::Tensor> values_;  // add / mean-ablate vectors (float32, CPU)
  // Per intervention, moved to the activations' device and dtype on first use.
  std::map<size_t, at::Tensor> device_values_, device_neurons_;
  std::map<size_t, std::shared_ptr<const Sae>> device_saes_;
  // Patch: per intervention, per sequence, the source's rows [R, W] (undefined = none).
  std::map<size_t, std::vector<at::Tensor>> sources_;
};

}  // namespace rig
