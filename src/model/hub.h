#pragma once
// Resolves a Hugging Face hub id + revision offline, in the layout that huggingface_hub,
// from_pretrained(cache_dir=...) and `rig pull` leave on disk (src/hub/cache.h):
//   CACHE/models--ORG--NAME/refs/REVISION   (a file holding a commit hash)
//   CACHE/models--ORG--NAME/snapshots/HASH/{config.json, model.safetensors, tokenizer.json}
#include <filesystem>
#include <string>

namespace rig {

// Returns the snapshot directory; an empty cache_dir means the environment's (HF_HUB_CACHE,
// HF_HOME, ~/.cache/huggingface/hub). Throws ModelError naming the `rig pull` command that
// fetches the model when it is not there (loading never downloads: compute nodes of
// clusters rarely have network; `rig pull` or model.download does, beforehand).
std::filesystem::path resolve_hub_snapshot(const std::string& repo_id, const std::string& revision,
                                           const std::filesystem::path& cache_dir);

}  // namespace rig
