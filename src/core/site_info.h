#pragma once
// What the rest of rig (config validation, recording, analysis) needs to know about a hook
// site, without depending on LibTorch.
#include <cstdint>
#include <string>
#include <vector>

namespace rig {

enum class Side { kInput, kOutput };

inline const char* side_name(Side s) { return s == Side::kInput ? "input" : "output"; }

struct SiteInfo {
  std::string name;         // HF module path, e.g. "gpt_neox.layers.5.mlp.dense_4h_to_h"
  std::string module_type;  // HF class name, e.g. "Linear", "GPTNeoXLayer"
  int64_t in_width = 0;     // last-dim width of the first input; 0 where there is none
  int64_t out_width = 0;    // last-dim width of the first output
  bool has_input = true;    // false where HF's first input is not a float tensor (embeddings)
  bool called = true;       // false for modules the forward pass never calls
  int64_t layer = -1;       // index of the decoder layer holding (or being) the site; -1: none
  // Sites inside attention that are no HF module (P.q, P.pattern, ...; docs/FORMAT.md):
  // output only, out_width = heads * per_head, head h in columns [h * per_head, (h+1) * per_head).
  bool inner = false;
  int64_t heads = 0;
  int64_t per_head = 0;
  std::string axis;  // a head's columns: "head_dim", "key" (scores, pattern) or "hidden" (result)
};

using SiteCatalog = std::vector<SiteInfo>;

}  // namespace rig
