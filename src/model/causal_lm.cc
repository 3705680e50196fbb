#include "model/causal_lm.h"

#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h since LibTorch 2)

#include "core/error.h"

namespace rig {

void CausalLM::finalize_tree() {
  finalize(&ctx_);
  site_modules_.clear();
  visit_sites([this](Module& m) { site_modules_.push_back(&m); });
  for (size_t i = 0; i < site_modules_.size(); ++i) site_index_[site_modules_[i]->path()] = int(i);
}

at::Tensor CausalLM::forward(const ForwardInput& input, KVCache* cache, const SiteHooks* hooks, LogitsFor logits_for) {
  struct Activate {  // hooks are active for this call only, even when it throws
    SiteContext& ctx;
    Activate(SiteContext& c, const SiteHooks* h) : ctx(c) { ctx.active = (h && !h->empty()) ? h : nullptr; }
    ~Activate() { ctx.active = nullptr; }
  } activate(ctx_, hooks);
  at::Tensor logits = forward_impl(input, cache, logits_for);
  if (cache && cache->capacity > 0) cache->len += input.input_ids.size(1);
  return logits;
}

KVCache CausalLM::make_cache(int64_t capacity) const {
  KVCache c;
  c.layers.resize(size_t(config_.num_layers));
  c.capacity = capacity;
  return c;
}

std::optional<int> CausalLM::find_site(const std::string& name) const {
  auto it = site_index_.find(name);
  if (it != site_index_.end()) return it->second;
  const auto aliases = site_aliases();
  if (auto a = aliases.find(name); a != aliases.end()) return find_site(a->second);
  return std::nullopt;
}

bool CausalLM::ignorable_key(const std::string& key) const {
  // Causal-mask and rotary buffers that older transformers saved with the weights.
  auto ends_with = [&](const char* s) {
    const std::string suf(s);
    return key.size() >= suf.size() && key.compare(key.size() - suf.size(), suf.size(), suf) == 0;
  };
  return ends_with(".attn.bias") || ends_with(".attn.masked_bias") || ends_with(".attention.bias") ||
         ends_with(".attention.masked_bias") || ends_with(".rotary_emb.inv_freq");
}

const SiteCatalog& CausalLM::catalog() {
  if (catalog_) return *catalog_;
  SiteCatalog cat(site_modules_.size());
  SiteHooks probe(site_modules_.size());
  for (size_t i = 0; i < site_modules_.size(); ++i) {
    cat[i].name = site_modules_[i]->path();
    cat[i].module_type = site_modules_[i]->type();
    cat[i].called = false;
    cat[i].has_input = false;
    if (const auto* inner = dynamic_cast<const InnerSite*>(site_modules_[i])) {
      cat[i].inner = true;
      cat[i].heads = inner->heads;
      cat[i].per_head = inner->per_head;
      cat[i].axis = inner->axis;
    }
    probe.add(int(i), Side::kInput, [&cat, i](const at::Tensor& x) {
      cat[i].has_input = true;
      cat[i].in_width = x.size(-1);
      return x;
    });
    probe.add(int(i), Side::kOutput, [&cat, i](const at::Tensor& y) {
      cat[i].called = true;
      cat[i].out_width = y.size(-1);
      return y;
    });
  }
  // Layers: the children of the model's (outermost) ModuleList, "...layers.5", and all below.
  visit([&](Module& list) {
    if (list.type() != "ModuleList") return;
    for (size_t l = 0; l < list.children().size(); ++l)
      list.children()[l].second->visit_sites([&](Module& m) {
        int64_t& layer = cat[size_t(site_index_.at(m.path()))].layer;
        if (layer < 0) layer = int64_t(l);
      });
  });
  at::NoGradGuard no_grad;
  const auto opts =
      at::TensorOptions().dtype(at::kLong).device(site_modules_.front()->parameters().empty() ? at::kCPU : at::kCPU);
  ForwardInput in{at::zeros({1, 1}, opts), at::zeros({1, 1}, opts), at::ones({1, 1}, opts.dtype(at::kBool))};
  // The probe runs on the model's device: find it from any parameter.
  visit([&](Module& m) {
    for (auto& p : m.parameters())
      if (p.value.defined()) {
        in.input_ids = in.input_ids.to(p.value.device());
        in.position_ids = in.position_ids.to(p.value.device());
        in.key_mask = in.key_mask.to(p.value.device());
        return;
      }
  });
  forward(in, nullptr, &probe, LogitsFor::kAll);
  cat[0].has_input = false;  // the root's input is integer ids
  catalog_ = std::move(cat);
  return *catalog_;
}

}  // namespace rig
