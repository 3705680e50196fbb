#pragma once
// Hook sites: the C++ counterpart of PyTorch's register_forward_hook. Every named module is
// a site with an input side (its first input) and an output side (its first output). A hook
// sees the tensor and returns it, or a modified tensor that the forward pass then uses.
// Forward code asks first (wants), so a site nobody listens to costs one branch.
#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "core/site_info.h"

namespace rig {

// x: [B, T, W] -> [B, T, W] (the same tensor, or a replacement of the same shape)
using SiteFn = std::function<at::Tensor(const at::Tensor& x)>;

class SiteHooks {
 public:
  explicit SiteHooks(size_t n_sites) : flags_(2 * n_sites, 0), fns_(2 * n_sites) {}

  // Hooks on one site and side run in the order they were added.
  void add(int site, Side side, SiteFn fn) {
    const size_t k = key(site, side);
    fns_.at(k).push_back(std::move(fn));
    flags_[k] = 1;
  }
  bool wants(int site, Side side) const { return flags_[key(site, side)] != 0; }
  bool empty() const {
    for (auto f : flags_)
      if (f) return false;
    return true;
  }
  at::Tensor run(int site, Side side, at::Tensor x) const {
    for (const auto& fn : fns_[key(site, side)]) x = fn(x);
    return x;
  }
  size_t n_sites() const { return flags_.size() / 2; }

 private:
  static size_t key(int site, Side side) { return 2 * size_t(site) + (side == Side::kOutput ? 1 : 0); }
  std::vector<uint8_t> flags_;
  std::vector<std::vector<SiteFn>> fns_;
};

// Shared by every module of one model: the hooks of the forward pass in progress (or none).
struct SiteContext {
  const SiteHooks* active = nullptr;
};

}  // namespace rig
