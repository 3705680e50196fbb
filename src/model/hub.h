#pragma once
// Resolves a Hugging Face hub id + revision offline, in the layout that
// from_pretrained(cache_dir=...) and `huggingface-cli download --cache-dir` leave on disk:
//   CACHE/models--ORG--NAME/refs/REVISION   (a file holding a commit hash)
//   CACHE/models--ORG--NAME/snapshots/HASH/{config.json, model.safetensors, tokenizer.json}
#include <filesystem>
#include <string>

namespace rig {

// Returns the snapshot directory. Throws ModelError saying how to download the model when
// it is not there (rig never downloads: clusters' compute nodes rarely have network).
std::filesystem::path resolve_hub_snapshot(const std::string& repo_id, const std::string& revision,
                                           const std::filesystem::path& cache_dir);

}  // namespace rig
