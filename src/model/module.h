#pragma once
// A minimal module tree with HF's attribute names. named_modules() joins names with dots
// (ModuleList children are "0", "1", ...), so module paths equal HF's and parameter keys
// equal the checkpoint's. Each module is a hook site (see sites.h).
#include <ATen/ATen.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/sites.h"

namespace rig {

// A parameter as the architecture declares it: checkpoint name relative to its module,
// expected shape, and whether a checkpoint must hold it.
struct Parameter {
  std::string name;
  std::vector<int64_t> shape;
  bool required = true;
  at::Tensor value;
};

class Module {
 public:
  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type() const { return type_; }
  const std::string& path() const { return path_; }  // full dotted name ("" for the root)
  int site_id() const { return site_id_; }

  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  // Declares a parameter; returns a reference to its tensor (filled by the loader).
  at::Tensor& param(const std::string& name, std::vector<int64_t> shape, bool required = true);

  // A site of this module that is no HF module (attention's q, pattern, z, ...): outside the
  // tree (print(model), named_modules(), visit()), a site all the same (visit_sites()).
  template <class M>
  std::shared_ptr<M> add_site(const std::string& name, std::shared_ptr<M> m) {
    inner_sites_.emplace_back(name, m);
    return m;
  }

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  std::deque<Parameter>& parameters() { return params_; }

  // What print(model) shows in PyTorch: "Type(extra)" or the nested tree.
  virtual std::string extra_repr() const { return ""; }
  virtual std::string repr() const;

  // Pre-order walk, like torch.nn.Module.named_modules() (the root has path "").
  void visit(const std::function<void(Module&)>& fn);
  // The same walk over every site: each module, then its children, then its inner sites.
  void visit_sites(const std::function<void(Module&)>& fn);

  // Assigns paths and site ids to the whole tree below this (the root) module.
  void finalize(SiteContext* ctx);

 protected:
  // The hook points: call in(x) on the first input and out(y) on the first output.
  at::Tensor in(const at::Tensor& x) const {
    const SiteHooks* h = ctx_->active;
    return (h && h->wants(site_id_, Side::kInput)) ? h->run(site_id_, Side::kInput, x) : x;
  }
  bool wants_out() const {
    const SiteHooks* h = ctx_->active;
    return h && h->wants(site_id_, Side::kOutput);
  }
  at::Tensor out(const at::Tensor& y) const {
    const SiteHooks* h = ctx_->active;
    return (h && h->wants(site_id_, Side::kOutput)) ? h->run(site_id_, Side::kOutput, y) : y;
  }

 private:
  void finalize_rec(const std::string& path, SiteContext* ctx, int* next_id);

  std::string type_;
  std::string path_;
  int site_id_ = -1;
  SiteContext* ctx_ = nullptr;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> inner_sites_;
  std::deque<Parameter> params_;  // a deque: param() hands out references
};

// A container that is never called itself (torch.nn.ModuleList).
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  std::string repr() const override;  // groups identical children: "(0-5): 6 x Layer(...)"
};

// A value inside a module's forward pass that HF has no module for (TransformerLens's hook_q,
// hook_pattern, ...): an output-side site of width heads * per_head, [B, T, heads * per_head]
// with head h in columns [h * per_head, (h + 1) * per_head).
class InnerSite : public Module {
 public:
  InnerSite(std::string kind, int64_t heads, int64_t per_head, std::string axis)
      : Module(std::move(kind)), heads(heads), per_head(per_head), axis(std::move(axis)) {}
  bool wanted() const { return wants_out(); }  // one branch when nobody listens
  at::Tensor run(const at::Tensor& x) const { return out(x); }
  int64_t heads, per_head;
  std::string axis;  // what a head's columns are: "head_dim", "key" or "hidden"
};

// Python's repr() of a float (1e-05, 0.1, 0.0), for extra_repr strings.
std::string py_float(double v);

}  // namespace rig
