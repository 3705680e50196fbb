#include "train/adamw.h"

#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h since LibTorch 2)

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace rig::train {

AdamW::AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions options)
    : params_(std::move(params)), decay_(std::move(decay)), o_(options) {
  if (decay_.size() != params_.size()) throw Error("AdamW: one decay flag per parameter expected");
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p).detach());
    v_.push_back(at::zeros_like(p).detach());
  }
}

double AdamW::clip_grad_norm(double max_norm) {
  at::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& p : params_)
    if (p.grad().defined()) sq += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (auto& p : params_)
      if (p.grad().defined()) p.mutable_grad().mul_(scale);
  }
  return norm;
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1 - std::pow(o_.beta1, double(t_)), bc2 = 1 - std::pow(o_.beta2, double(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const at::Tensor g = p.grad();
    m_[i].mul_(o_.beta1).add_(g, 1 - o_.beta1);
    v_[i].mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
    if (decay_[i] && o_.weight_decay > 0) p.mul_(1 - lr * o_.weight_decay);
    const at::Tensor denom = (v_[i] / bc2).sqrt_().add_(o_.eps);
    p.addcdiv_(m_[i], denom, -lr / bc1);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) p.mutable_grad() = at::Tensor();
}

double cosine_lr(int64_t step, int64_t total, int64_t warmup, double peak, double floor) {
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  const double progress = total > warmup ? double(step - warmup) / double(total - warmup) : 1.0;
  return floor + 0.5 * (peak - floor) * (1 + std::cos(M_PI * std::min(1.0, progress)));
}

}  // namespace rig::train
