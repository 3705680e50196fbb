#pragma once
// The common face of every architecture: a module tree rooted at the *ForCausalLM class,
// a forward pass over a (padded) batch with an optional KV cache, and the site catalog.
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/site_info.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/module.h"

namespace rig {

struct ForwardInput {
  at::Tensor input_ids;     // [B, T] int64
  at::Tensor position_ids;  // [B, T] int64 (from the attention mask: padding does not count)
  at::Tensor key_mask;      // [B, S] bool, S = cache length + T; false = padding
};

enum class LogitsFor {
  kAll,   // logits at every position: [B, T, V]
  kLast,  // only the last position [B, 1, V] (generation), unless a hook listens to the head
};

class CausalLM : public Module {
 public:
  CausalLM(std::string type, ModelConfig config) : Module(std::move(type)), config_(std::move(config)) {}

  const ModelConfig& config() const { return config_; }

  // Runs the model; hooks (may be null) see and may modify every selected site.
  at::Tensor forward(const ForwardInput& input, KVCache* cache, const SiteHooks* hooks, LogitsFor logits_for);

  KVCache make_cache(int64_t capacity) const;

  // Every module as a site, in named_modules() order, each module's inner sites (attention's q, ...,
  // InnerSite) after its children (site id == index).
  const std::vector<Module*>& site_modules() const { return site_modules_; }
  size_t n_sites() const { return site_modules_.size(); }
  // Exact site name (or an alias such as GPT-NeoX's "lm_head" for "embed_out") -> id.
  std::optional<int> find_site(const std::string& name) const;
  // Site names with their widths, found by running one token through the model once.
  const SiteCatalog& catalog();

  // Checkpoint names this architecture also accepts for a parameter key (transformers 5's
  // renames), and parameters that are tied to another one when the checkpoint lacks them.
  virtual std::vector<std::string> key_aliases(const std::string& key) const {
    (void)key;
    return {};
  }
  virtual std::optional<std::string> tied_to(const std::string& key) const {
    (void)key;
    return std::nullopt;
  }
  // Keys that checkpoints carry but rig does not use (buffers of older transformers).
  virtual bool ignorable_key(const std::string& key) const;
  // Site aliases: alias -> canonical name.
  virtual std::map<std::string, std::string> site_aliases() const { return {}; }

  void finalize_tree();  // call once the tree is built

 protected:
  virtual at::Tensor forward_impl(const ForwardInput& input, KVCache* cache, LogitsFor logits_for) = 0;
  bool listening(const Module& m) const {
    const SiteHooks* h = ctx_.active;
    return h && (h->wants(m.site_id(), Side::kInput) || h->wants(m.site_id(), Side::kOutput));
  }
  // The head's input: all positions, or only the last when that is all the caller needs.
  at::Tensor head_input(const at::Tensor& h, LogitsFor logits_for, const Module& head) const {
    return (logits_for == LogitsFor::kLast && !listening(head)) ? h.narrow(1, h.size(1) - 1, 1) : h;
  }

  ModelConfig config_;

 private:
  SiteContext ctx_;
  std::vector<Module*> site_modules_;
  std::map<std::string, int> site_index_;
  std::optional<SiteCatalog> catalog_;
};

}  // namespace rig
