#include "model/hub.h"

#include <fstream>

#include "core/error.h"

namespace rig {
namespace fs = std::filesystem;

namespace {

std::string download_hint(const std::string& repo_id, const std::string& revision, const fs::path& cache_dir) {
  return "\n  rig does not download. On a machine with network, run:\n"
         "    huggingface-cli download " + repo_id + " --revision " + revision + " --cache-dir " +
         cache_dir.string() +
         "\n  (or in Python: AutoModelForCausalLM.from_pretrained('" + repo_id + "', revision='" + revision +
         "', cache_dir='" + cache_dir.string() + "'); tokenizer likewise)\n"
         "  then copy that directory here, or point model.path at an HF-format model directory.";
}

bool is_hash(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

fs::path resolve_hub_snapshot(const std::string& repo_id, const std::string& revision, const fs::path& cache_dir) {
  const auto slash = repo_id.find('/');
  std::string folder = "models--";
  for (char c : repo_id) folder += (c == '/') ? std::string("--") : std::string(1, c);
  const fs::path repo = cache_dir / folder;
  const std::string rev = revision.empty() ? "main" : revision;
  if (slash == std::string::npos && !fs::exists(repo))
    throw ModelError("model id '" + repo_id + "' is not of the form ORG/NAME");
  if (!fs::is_directory(repo))
    throw ModelError(repo.string() + ": not found: model " + repo_id + " is not in cache_dir " +
                     cache_dir.string() + download_hint(repo_id, rev, cache_dir));
  std::string commit;
  const fs::path ref = repo / "refs" / rev;
  if (fs::exists(ref)) {
    std::ifstream in(ref);
    std::getline(in, commit);
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
    if (commit.empty()) throw ModelError(ref.string() + ": empty ref file (an interrupted download?)");
  } else if (is_hash(rev)) {
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
