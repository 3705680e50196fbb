#pragma once
// AdamW (Loshchilov & Hutter: Adam with decoupled weight decay), written out by hand over
// at::Tensor parameters, with the update torch.optim.AdamW makes:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p (1 - lr wd) - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#include <ATen/ATen.h>

#include <vector>

namespace rig::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;
};

class AdamW {
 public:
  // params: leaf tensors with requires_grad; decay[i]: whether weight decay applies to params[i]
  // (not to biases and LayerNorm parameters, as is usual).
  AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions options);

  // Scales all gradients so that their joint L2 norm is at most max_norm (if > 0); returns
  // the norm before clipping.
  double clip_grad_norm(double max_norm);
  void step(double lr);  // one update with the current gradients
  void zero_grad();      // drops the gradients

 private:
  std::vector<at::Tensor> params_, m_, v_;
  std::vector<bool> decay_;
  AdamWOptions o_;
  int64_t t_ = 0;
};

// Learning rate at `step` (0-based): linear warmup to peak over `warmup` steps, then cosine
// decay to `floor` at `total` steps.
double cosine_lr(int64_t step, int64_t total, int64_t warmup, double peak, double floor);

}  // namespace rig::train
