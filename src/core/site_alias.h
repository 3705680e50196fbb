#pragma once
// Second names for one side of one site: TransformerLens's hook names
// ("blocks.3.hook_resid_pre" = the input of decoder layer 3), so that one config names the
// same tensor on every architecture. The per-architecture tables are model/hook_names.cc;
// config resolution (experiment/) and inspect use the expanded list without LibTorch.
#include <string>
#include <vector>

#include "core/site_info.h"

namespace rig {

struct SiteAlias {
  std::string alias;  // "blocks.0.hook_resid_pre"
  std::string site;   // HF module path it names ("" where unavailable)
  Side side = Side::kOutput;
  std::string unavailable;  // non-empty: this model has no such tensor, and why
};

using SiteAliases = std::vector<SiteAlias>;

}  // namespace rig
