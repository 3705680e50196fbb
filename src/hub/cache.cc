#include "hub/cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace rig::hub {
namespace fs = std::filesystem;

namespace {

bool is_true(const char* v) {
  if (!v) return false;
  std::string s(v);
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s == "1" || s == "ON" || s == "YES" || s == "TRUE";
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// "~/x" -> "$HOME/x", as huggingface_hub's expanduser does.
std::string expand_home(const std::string& p, const Getenv& getenv) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = getenv("HOME");
    return std::string(home ? home : "") + p.substr(1);
  }
  return p;
}

std::string shell_quote(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-+:@=,").find(c) != std::string::npos;
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows the symlink: a dangling link is no file
}

}  // namespace

Env resolve_env(const Getenv& getenv, const std::function<std::string(const std::string&)>& read_file) {
  auto get = [&](const char* name) -> std::string {
    const char* v = getenv(name);
    return v ? std::string(v) : std::string();
  };
  Env env;
  env.endpoint = get("HF_ENDPOINT");
  if (env.endpoint.empty()) env.endpoint = "https://huggingface.co";
  while (!env.endpoint.empty() && env.endpoint.back() == '/') env.endpoint.pop_back();
  std::string home = get("HF_HOME");
  if (home.empty()) {
    const std::string xdg = get("XDG_CACHE_HOME");
    home = (xdg.empty() ? expand_home("~/.cache", getenv) : xdg) + "/huggingface";
  }
  home = expand_home(home, getenv);
  std::string cache = get("HF_HUB_CACHE");
  if (cache.empty()) cache = get("HUGGINGFACE_HUB_CACHE");  // the older name, still read by huggingface_hub
  env.cache_dir = cache.empty() ? fs::path(home) / "hub" : fs::path(expand_home(cache, getenv));
  env.token = trim(get("HF_TOKEN"));
  if (env.token.empty()) {
    std::string token_path = get("HF_TOKEN_PATH");
    token_path = token_path.empty() ? home + "/token" : expand_home(token_path, getenv);
    env.token = trim(read_file(token_path));
  }
  env.offline = is_true(getenv("HF_HUB_OFFLINE")) || is_true(getenv("TRANSFORMERS_OFFLINE"));
  return env;
}

Env env_from_process() {
  return resolve_env([](const char* n) { return static_cast<const char*>(std::getenv(n)); },
                     [](const std::string& path) {
                       std::ifstream in(path);
                       std::string line;
                       if (in) std::getline(in, line);
                       return line;
                     });
}

void check_repo_id(const std::string& repo) {
  auto part_ok = [](const std::string& s) {
    return !s.empty() && s != "." && s != ".." && s.size() <= 96 && s.find("--") == std::string::npos &&
           std::all_of(s.begin(), s.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
           });
  };
  const auto slash = repo.find('/');
  const bool ok = slash == std::string::npos ? part_ok(repo)
                                             : repo.find('/', slash + 1) == std::string::npos &&
                                                   part_ok(repo.substr(0, slash)) && part_ok(repo.substr(slash + 1));
  if (!ok)
    throw ConfigError("model id '" + repo +
                      "': expected ORG/NAME (or NAME) of letters, digits, '-', '_' and '.', "
                      "e.g. EleutherAI/pythia-70m-deduped");
}

void check_revision(const std::string& revision) {
  bool ok = !revision.empty() && revision[0] != '/' && revision.back() != '/' && revision.size() <= 256;
  for (char c : revision) ok = ok && static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != '\\';
  std::stringstream parts(revision);
  for (std::string p; ok && std::getline(parts, p, '/');) ok = !p.empty() && p != "." && p != "..";
  if (!ok)
    throw ConfigError("revision '" + revision +
                      "': expected a branch, tag or commit hash (no spaces, empty "
                      "segments, '.' or '..')");
}

ModelRef parse_model_ref(const std::string& text) {
  ModelRef r;
  const auto at = text.find('@');
  r.repo = text.substr(0, at);
  if (at != std::string::npos) r.revision = text.substr(at + 1);
  check_repo_id(r.repo);
  check_revision(r.revision);
  return r;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string repo_folder_name(const std::string& repo) {
  std::string folder = "models--";
  for (char c : repo) folder += (c == '/') ? std::string("--") : std::string(1, c);
  return folder;
}

WantedFiles wanted_files(const std::string& repo, const std::vector<std::string>& siblings) {
  const std::set<std::string> have(siblings.begin(), siblings.end());
  WantedFiles w;
  for (const char* f : {"config.json", "tokenizer.json"})
    if (!have.count(f))
      throw ModelError(repo + ": the repository has no " + f +
                       " (rig needs config.json, tokenizer.json and "
                       "safetensors weights)");
  w.files = {"config.json"};
  if (have.count("generation_config.json")) w.files.push_back("generation_config.json");
  w.files.push_back("tokenizer.json");
  for (const char* f : {"tokenizer_config.json", "special_tokens_map.json"})
    if (have.count(f)) w.files.push_back(f);
  if (have.count("model.safetensors")) {
    w.files.push_back("model.safetensors");
  } else if (have.count("model.safetensors.index.json")) {
    w.index = "model.safetensors.index.json";
    w.files.push_back(w.index);
  } else {
    throw ModelError(repo +
                     ": the repository has neither model.safetensors nor model.safetensors.index.json "
                     "(rig reads safetensors weights only)");
  }
  return w;
}

std::vector<std::string> index_shards(const std::string& index_json, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(index_json);
  } catch (const std::exception& e) {
    throw ModelError(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw ModelError(where + ": expected an object with a 'weight_map' object");
  std::set<std::string> shards;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    if (!file.is_string()) throw ModelError(where + ": weight_map['" + tensor + "']: expected a file name");
    const std::string f = file.get<std::string>();
    if (f.empty() || f[0] == '/' || f.find("..") != std::string::npos)
      throw ModelError(where + ": weight_map['" + tensor + "']: file name '" + f + "' leaves the repository");
    shards.insert(f);
  }
  if (shards.empty()) throw ModelError(where + ": weight_map is empty");
  return {shards.begin(), shards.end()};
}

fs::path find_snapshot(const fs::path& cache_dir, const std::string& repo, const std::string& revision) {
  const fs::path dir = cache_dir / repo_folder_name(repo);
  std::string commit;
  std::ifstream in(dir / "refs" / revision);
  if (in) std::getline(in, commit);
  commit = trim(commit);
  if (commit.empty() && is_commit_hash(revision)) commit = revision;
  if (commit.empty()) return {};
  const fs::path snap = dir / "snapshots" / commit;
  std::error_code ec;
  return fs::is_directory(snap, ec) ? snap : fs::path();
}

std::vector<std::string> missing_files(const fs::path& snapshot) {
  std::vector<std::string> missing;
  for (const char* f : {"config.json", "tokenizer.json"})
    if (!is_file(snapshot / f)) missing.push_back(f);
  if (is_file(snapshot / "model.safetensors")) return missing;
  const fs::path index = snapshot / "model.safetensors.index.json";
  if (!is_file(index)) {
    missing.push_back("model.safetensors");
    return missing;
  }
  std::ifstream in(index);
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& shard : index_shards(text.str(), index.string()))
    if (!is_file(snapshot / shard)) missing.push_back(shard);
  return missing;
}

std::string pull_command(const std::string& repo, const std::string& revision, const std::string& cache_dir_arg) {
  std::string cmd = "rig pull " + shell_quote(repo + "@" + revision);
  if (!cache_dir_arg.empty()) cmd += " --cache-dir " + shell_quote(cache_dir_arg);
  return cmd;
}

}  // namespace rig::hub
