#pragma once
// What produced a recording, as digests and versions (root attributes of every file rig
// writes): `--resume` and `rig merge` refuse files whose provenance differs, so a checkpoint
// retrained at the same path cannot resume into the old recording.
#include <filesystem>
#include <map>
#include <string>

namespace rig {

// sha256 of a model directory's files: the weights (model.safetensors, or the index and
// every shard it lists), config.json and tokenizer.json. A file that is a link into a Hugging
// Face cache's blobs/ named by a sha256 (an LFS file, checked when it was downloaded) takes
// that name instead of being read again.
struct ModelProvenance {
  std::string weights_sha256;    // one digest for all weight files: the sha256 of `weights_files`
  std::string weights_files;     // `sha256sum` lines, "HEX  NAME\n", one per weight file, by name
  std::string config_sha256;     // config.json
  std::string tokenizer_sha256;  // tokenizer.json ("" when the directory has none)
};

ModelProvenance model_provenance(const std::filesystem::path& dir);

// sha256 of one file's content (or its HF blob name, as above). Throws ModelError naming it.
std::string file_sha256(const std::filesystem::path& path);

// The root attributes (kProvenanceAttrs, core/trial.h): the digests above and the versions of
// LibTorch, HDF5 and the compiler.
std::map<std::string, std::string> provenance_attributes(const ModelProvenance& p);

}  // namespace rig
