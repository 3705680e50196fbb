#pragma once
// Forward passes over padded batches and generation with a KV cache. Prompts are padded on
// the left; position ids come from the attention mask, so a padded prompt gives the same
// activations as the same prompt alone.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/generate_config.h"
#include "model/causal_lm.h"

namespace rig {

// The config's generation settings (core/generate_config.h), and what the caller knows besides.
struct GenerateOptions : GenerateConfig {
  std::optional<int64_t> eos_id;
  // Run one more forward step on the last generated token, so that every token (also the
  // last) has its row in the recordings: rows = prompt tokens + generated tokens.
  bool final_step = true;
  int64_t pad_id = 0;
};

// What one forward call of generate() holds, for recorders: the call's tokens per sequence.
struct StepInfo {
  int step = 0;                  // 0 = the prompt (prefill), s >= 1 = generated token s fed back
  int64_t tokens = 0;            // T of this call
  std::vector<int64_t> offset;   // per sequence: index of its first real token in this call (left padding)
  std::vector<uint8_t> has_row;  // per sequence: whether this call holds a row of it
};

struct SequenceResult {
  std::vector<int64_t> new_ids;
  std::string finish_reason;  // "prompt_only" | "length" | "eos"
};

// Left-pads prompts: input_ids [B, T], key_mask [B, T], position_ids [B, T].
ForwardInput make_padded_batch(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id, at::Device device);

// One forward pass over prompts without generating: logits [B, T, V] (left-padded).
at::Tensor forward_batch(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, const SiteHooks* hooks,
                         at::Device device);

// Generates for a batch of prompts. seeds: one per sequence, used only when sampling, so a
// sequence's tokens do not depend on what else is in the batch. on_step is called after
// each forward call (hooks have fired by then).
std::vector<SequenceResult> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateOptions& options, const std::vector<uint64_t>& seeds,
                                     const SiteHooks* hooks, at::Device device,
                                     const std::function<void(const StepInfo&)>& on_step = nullptr);

// Chooses the next token from logits [V] (float32) with a generator (null for greedy).
int64_t sample_token(const at::Tensor& logits, const GenerateConfig& options, at::Generator* generator);

}  // namespace rig
