#pragma once
// Downloads a model from the Hugging Face hub (or any server that speaks its HTTP API, e.g.
// HF_ENDPOINT's mirror) into the hub cache of cache.h, fetching only the files rig reads.
// libcurl does HTTP, TLS, redirects to the CDN, proxies (http_proxy/https_proxy/no_proxy)
// and Range requests; this file does the hub's protocol:
//   GET  {endpoint}/api/models/{repo}/revision/{rev}   -> commit sha + file list
//   HEAD {endpoint}/{repo}/resolve/{commit}/{file}      -> ETag / X-Linked-Etag, size
//   GET  the same URL (following the CDN redirect)      -> content, resumed with Range from
//        blobs/ETAG.incomplete; an LFS file's sha256 is checked before it becomes a blob,
//        and the snapshot link is made only then.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hub/cache.h"

namespace rig::hub {

struct PullOptions {
  std::string repo;               // ORG/NAME
  std::string revision = "main";  // branch, tag or commit hash
  Env env;                        // endpoint, cache_dir, token, offline
  std::string cache_dir_arg;      // how the user named cache_dir ("" = the environment's), for hints
  bool quiet = false;             // no progress on stderr
  int attempts = 5;               // tries per file when the connection drops (each resumes)
};

struct PullResult {
  std::string commit;
  std::filesystem::path snapshot;
  std::vector<std::string> files;  // the snapshot's files rig reads
  int files_fetched = 0;           // files whose content came over the network this time
  int64_t bytes_fetched = 0;
};

// Makes repo@revision complete in the cache and returns its snapshot. With env.offline, only
// checks the cache. Errors: ConfigError (2) for an unknown model or revision or a refused
// token (401/403 name HF_TOKEN); ModelError (3) for a repository without the files rig needs,
// a sha256 mismatch, or (offline) a model not in the cache; rig::Error (1) for network
// failures (with the URL and curl's message) and failed writes (disk full).
PullResult pull(const PullOptions& options);

}  // namespace rig::hub
