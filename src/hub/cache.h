#pragma once
// The Hugging Face hub cache, as huggingface_hub lays it out (so that Python tools and rig
// share one copy of each model):
//   CACHE/models--ORG--NAME/blobs/ETAG                  the files' content, named by ETag
//                                                       (sha256 for LFS files, git sha1 else)
//   CACHE/models--ORG--NAME/refs/REVISION               a branch's or tag's commit hash
//   CACHE/models--ORG--NAME/snapshots/COMMIT/FILE  ->  ../../blobs/ETAG   (relative symlinks)
// Pure functions of names, paths and the environment; no network (that is download.h).
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace rig::hub {

// What the HF_* environment variables say, resolved as huggingface_hub resolves them.
struct Env {
  std::string endpoint;             // HF_ENDPOINT, default https://huggingface.co (no trailing /)
  std::filesystem::path cache_dir;  // HF_HUB_CACHE, default $HF_HOME/hub, HF_HOME default
                                    // $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface
  std::string token;                // HF_TOKEN, else the file $HF_TOKEN_PATH or $HF_HOME/token
  bool offline = false;             // HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/ON/YES/TRUE
};

using Getenv = std::function<const char*(const char*)>;
// `read_file` returns a file's text, or "" when it cannot be read (for the token file).
Env resolve_env(const Getenv& getenv, const std::function<std::string(const std::string&)>& read_file);
Env env_from_process();  // resolve_env with std::getenv and the file system

// "ORG/NAME[@REVISION]" (revision default "main"). Throws ConfigError for a malformed id.
struct ModelRef {
  std::string repo;
  std::string revision = "main";
};
ModelRef parse_model_ref(const std::string& text);
// Throws ConfigError unless `repo` is NAME or ORG/NAME of letters, digits, '-', '_', '.'
// and `revision` is non-empty, without "..", a leading '/', or control characters.
void check_repo_id(const std::string& repo);
void check_revision(const std::string& revision);

bool is_commit_hash(const std::string& s);  // 40 lowercase or uppercase hex digits

std::string repo_folder_name(const std::string& repo);  // "models--ORG--NAME"

// The files of a model repository that rig reads, given the repository's file list.
struct WantedFiles {
  std::vector<std::string> files;  // fetched in this order; the index before its shards
  std::string index;               // "model.safetensors.index.json" when sharded, else ""
};
// Throws ModelError when the repository lacks config.json, tokenizer.json or safetensors
// weights (rig reads no other weight format).
WantedFiles wanted_files(const std::string& repo, const std::vector<std::string>& siblings);
// The shard file names of a safetensors index (weight_map's values, sorted, unique).
std::vector<std::string> index_shards(const std::string& index_json, const std::string& where);

// The snapshot directory of repo@revision when a ref (or the commit itself) and its
// snapshot directory exist; "" otherwise. Offline.
std::filesystem::path find_snapshot(const std::filesystem::path& cache_dir, const std::string& repo,
                                    const std::string& revision);
// The files rig needs that a snapshot lacks (config.json, tokenizer.json, the weights and
// an index's shards); empty when it is complete. A link to a missing blob counts as missing.
std::vector<std::string> missing_files(const std::filesystem::path& snapshot);

// The exact command that fetches repo@revision: "rig pull ORG/NAME@REV" plus
// " --cache-dir DIR" when cache_dir_arg is not empty.
std::string pull_command(const std::string& repo, const std::string& revision, const std::string& cache_dir_arg);

}  // namespace rig::hub
