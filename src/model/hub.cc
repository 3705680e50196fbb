#include "model/hub.h"

#include <fstream>

#include "core/error.h"
#include "hub/cache.h"

namespace rig {
namespace fs = std::filesystem;

namespace {

std::string download_hint(const std::string& repo_id, const std::string& revision, const fs::path& cache_dir) {
  const bool default_cache = cache_dir == hub::env_from_process().cache_dir;
  return "\n  fetch it (on a machine with network) with:\n    " +
         hub::pull_command(repo_id, revision, default_cache ? "" : cache_dir.string()) +
         "\n  or point model.path at an HF-format model directory.";
}

}  // namespace

fs::path resolve_hub_snapshot(const std::string& repo_id, const std::string& revision, const fs::path& cache_arg) {
  const fs::path cache_dir = cache_arg.empty() ? hub::env_from_process().cache_dir : cache_arg;
  const auto slash = repo_id.find('/');
  const fs::path repo = cache_dir / hub::repo_folder_name(repo_id);
  const std::string rev = revision.empty() ? "main" : revision;
  if (slash == std::string::npos && !fs::exists(repo))
    throw ModelError("model id '" + repo_id + "' is not of the form ORG/NAME");
  if (!fs::is_directory(repo))
    throw ModelError(repo.string() + ": not found: model " + repo_id + " is not in cache_dir " + cache_dir.string() +
                     download_hint(repo_id, rev, cache_dir));
  std::string commit;
  const fs::path ref = repo / "refs" / rev;
  if (fs::exists(ref)) {
    std::ifstream in(ref);
    std::getline(in, commit);
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
    if (commit.empty()) throw ModelError(ref.string() + ": empty ref file (an interrupted download?)");
  } else if (hub::is_commit_hash(rev)) {
    commit = rev;  // a commit hash given directly as the revision
  } else {
    throw ModelError(ref.string() + ": revision '" + rev + "' of " + repo_id + " is not in the cache" +
                     download_hint(repo_id, rev, cache_dir));
  }
  const fs::path snap = repo / "snapshots" / commit;
  if (!fs::is_directory(snap))
    throw ModelError(snap.string() + ": snapshot " + commit + " (revision " + rev + ") is missing" +
                     download_hint(repo_id, rev, cache_dir));
  return snap;
}

}  // namespace rig
