#include "model/module.h"

#include <cstdio>
#include <cstdlib>

namespace rig {

at::Tensor& Module::param(const std::string& name, std::vector<int64_t> shape, bool required) {
  params_.push_back(Parameter{name, std::move(shape), required, at::Tensor()});
  return params_.back().value;
}

namespace {
std::string indent(const std::string& s) {  // PyTorch's _addindent(s, 2)
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '\n') out += "  ";
  }
  return out;
}
}  // namespace

std::string py_float(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string Module::repr() const {
  std::string s = type_ + "(";
  const std::string extra = extra_repr();
  if (children_.empty()) return s + extra + ")";
  if (!extra.empty()) s += "\n  " + extra;
  for (const auto& [name, child] : children_) s += "\n  (" + name + "): " + indent(child->repr());
  return s + "\n)";
}

std::string ModuleList::repr() const {
  const auto& kids = children();
  std::string s = type() + "(";
  for (size_t i = 0; i < kids.size();) {
    const std::string r = kids[i].second->repr();
    size_t j = i + 1;
    while (j < kids.size() && kids[j].second->repr() == r) ++j;
    const std::string label = j - i == 1 ? kids[i].first : kids[i].first + "-" + kids[j - 1].first;
    s += "\n  (" + label + "): " + (j - i == 1 ? "" : std::to_string(j - i) + " x ") + indent(r);
    i = j;
  }
  return s + (kids.empty() ? ")" : "\n)");
}

void Module::visit(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& [name, child] : children_) child->visit(fn);
}

void Module::visit_sites(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& [name, child] : children_) child->visit_sites(fn);
  for (auto& [name, site] : inner_sites_) site->visit_sites(fn);
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
  for (auto& [name, site] : inner_sites_) site->finalize_rec(path + "." + name, ctx, next_id);
}

}  // namespace rig
