#include "model/module.h"

namespace rig {

at::Tensor& Module::param(const std::string& name, std::vector<int64_t> shape, bool required) {
  params_.push_back(Parameter{name, std::move(shape), required, at::Tensor()});
  return params_.back().value;
}

void Module::visit(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& [name, child] : children_) child->visit(fn);
}

void Module::finalize(SiteContext* ctx) {
  int next = 0;
  finalize_rec("", ctx, &next);
}

void Module::finalize_rec(const std::string& path, SiteContext* ctx, int* next_id) {
  path_ = path;
  ctx_ = ctx;
  site_id_ = (*next_id)++;
  for (auto& [name, child] : children_) child->finalize_rec(path.empty() ? name : path + "." + name, ctx, next_id);
}

}  // namespace rig
