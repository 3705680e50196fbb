#pragma once
// TransformerLens's hook names as aliases of HF sites, one table per architecture
// (hook_names.cc): blocks.{i}.hook_resid_pre/mid/post, blocks.{i}.attn.hook_q/k/v/...,
// blocks.{i}.mlp.hook_pre/post, hook_embed, ... Each names one side of one site.
#include "core/site_alias.h"
#include "model/config.h"

namespace rig {

// The aliases of a model, expanded for its layers (blocks.0 ... blocks.{L-1}), in table order.
// Names TransformerLens has but this model lacks carry the reason (SiteAlias::unavailable).
// An architecture without a table has no aliases.
SiteAliases hook_aliases(const ModelConfig& config);

// Whether model_type has a table (tests sweep architectures() with it).
bool has_hook_names(const std::string& model_type);

}  // namespace rig
