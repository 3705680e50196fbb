#pragma once
// The training loop: next-token cross-entropy over token sequences, on rig's own module tree
// (CausalLM::forward with autograd on), AdamW with warmup + cosine learning rate.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "model/causal_lm.h"
#include "train/adamw.h"

namespace rig::train {

// Fills every parameter as HF initialises GPT-NeoX: Linear and Embedding weights ~ N(0, std),
// biases 0, LayerNorm weight 1 and bias 0; sets requires_grad. Seeded: same seed, same weights.
void init_parameters(CausalLM& model, uint64_t seed, double std = 0.02);

struct LoopOptions {
  uint64_t seed = 0;  // batch sampling
  int64_t steps = 100;
  int64_t batch_size = 32;  // sequences per step
  double lr = 3e-3, min_lr = 3e-4;
  int64_t warmup = 30;
  double clip = 1.0;  // gradient norm clip (0 = off)
  AdamWOptions adamw;
  int64_t pad_id = 0;  // fills the right end of short sequences (its targets are ignored)
};

struct StepLog {
  int64_t step = 0;  // 1-based
  double loss = 0;   // mean cross-entropy per target token of this step's batch
  double lr = 0;
  double grad_norm = 0;
  double seconds = 0;  // since the loop began
};

// Trains on sequences (token ids, each at most the model's max_positions long): each step
// draws batch_size sequences at random (std::mt19937_64 seeded with options.seed; drawn 8
// batches at a time and grouped by length), pads them on the right, and minimises the mean cross-entropy of every next
// token (the padding's excluded). on_step, if set, sees every step. Returns the log of all steps.
std::vector<StepLog> train_lm(CausalLM& model, const std::vector<std::vector<int64_t>>& sequences,
                              const LoopOptions& options, const std::function<void(const StepLog&)>& on_step);

// Mean next-token cross-entropy of sequences (no gradients), in batches.
double mean_loss(CausalLM& model, const std::vector<std::vector<int64_t>>& sequences, int64_t batch_size,
                 int64_t pad_id);

}  // namespace rig::train
