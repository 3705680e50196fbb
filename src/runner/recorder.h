#pragma once
// Records electrodes during one batch's forward calls and cuts the captured tensors into
// per-trial time x neuron matrices: rows are the trial's prompt tokens, then one row per
// generated token, whatever the padding and batch composition.
#include <ATen/ATen.h>

#include <vector>

#include "model/causal_lm.h"
#include "model/generate.h"
#include "core/trial.h"
#include "sae/electrodes.h"

namespace rig {

class Recorder {
 public:
  // electrodes: what to record; site ids come from the model (aliases allowed). saes holds
  // the SAE of every SAE electrode (bind_sae_electrodes).
  Recorder(const CausalLM& model, const std::vector<ElectrodeSpec>& electrodes, const SaeSet& saes = {});

  // Adds one recording hook per electrode to hooks (after any stimulation hooks, so the
  // recording shows what the rest of the network sees).
  void attach(SiteHooks& hooks);
  // Called by generate() after each forward call.
  void on_step(const StepInfo& info) { steps_.push_back(info); }
  // Rows of sequence b for electrode e: [rows, width] float32, row-major.
  std::vector<float> rows(size_t e, int64_t b) const;
  void clear();

 private:
  struct Stream {
    int site = -1;
    Side side = Side::kOutput;
    at::Tensor neurons;                // int64 indices, undefined = all
    std::shared_ptr<const Sae> sae;    // records [latents, |error|] instead (null = the neurons)
    std::vector<at::Tensor> captured;  // one [B, T, width] float32 CPU tensor per forward call
  };
  std::vector<Stream> streams_;
  std::vector<StepInfo> steps_;
};

}  // namespace rig
