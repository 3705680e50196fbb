// The hub cache's pure parts: ids and revisions, the environment, folder names, which files
// rig fetches, the snapshot check, sha256. The downloads themselves are tested against a
// loopback hub in tests/e2e/test_pull.py.
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <string>
#include <unistd.h>

#include "catch.h"
#include "core/error.h"
#include "hub/cache.h"
#include "hub/sha256.h"

namespace fs = std::filesystem;
using namespace rig;

namespace {

hub::Env env_of(const std::map<std::string, std::string>& vars, const std::string& token_file_text = "") {
  return hub::resolve_env(
      [&](const char* n) {
        auto it = vars.find(n);
        return it == vars.end() ? static_cast<const char*>(nullptr) : it->second.c_str();
      },
      [&](const std::string& path) { return path == "/h/hf/token" ? token_file_text : std::string(); });
}

std::string config_error(const std::string& ref) {
  try {
    hub::parse_model_ref(ref);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model references: ORG/NAME[@REVISION]", "[hub]") {
  auto r = hub::parse_model_ref("EleutherAI/pythia-70m-deduped@step143000");
  CHECK(r.repo == "EleutherAI/pythia-70m-deduped");
  CHECK(r.revision == "step143000");
  r = hub::parse_model_ref("gpt2");
  CHECK(r.repo == "gpt2");
  CHECK(r.revision == "main");
  CHECK(hub::parse_model_ref("org/m@refs/pr/1").revision == "refs/pr/1");
  for (const char* bad : {"", "a/b/c", "/abs", "org/", "org/na me", "org/../x", "org/m@", "org/m@../x", "org/m@a//b",
                          "org/m@a b", "org/x--y"})
    CHECK(config_error(bad) != "");
  CHECK(config_error("a/b/c").find("ORG/NAME") != std::string::npos);
}

TEST_CASE("environment: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE", "[hub]") {
  auto e = env_of({{"HOME", "/h"}});
  CHECK(e.endpoint == "https://huggingface.co");
  CHECK(e.cache_dir == fs::path("/h/.cache/huggingface/hub"));
  CHECK(e.token.empty());
  CHECK_FALSE(e.offline);
  e = env_of({{"HOME", "/h"}, {"XDG_CACHE_HOME", "/x"}});
  CHECK(e.cache_dir == fs::path("/x/huggingface/hub"));
  e = env_of({{"HOME", "/h"}, {"HF_HOME", "~/hf"}, {"HF_ENDPOINT", "http://127.0.0.1:8080/"}}, "tok-from-file\n");
  CHECK(e.cache_dir == fs::path("/h/hf/hub"));
  CHECK(e.endpoint == "http://127.0.0.1:8080");
  CHECK(e.token == "tok-from-file");  // $HF_HOME/token, as `huggingface-cli login` leaves it
  e = env_of({{"HOME", "/h"}, {"HF_HOME", "/h/hf"}, {"HF_HUB_CACHE", "/c"}, {"HF_TOKEN", "hf_x"}}, "other");
  CHECK(e.cache_dir == fs::path("/c"));
  CHECK(e.token == "hf_x");
  for (const char* v : {"1", "true", "ON", "yes"}) CHECK(env_of({{"HF_HUB_OFFLINE", v}}).offline);
  for (const char* v : {"0", "false", ""}) CHECK_FALSE(env_of({{"HF_HUB_OFFLINE", v}}).offline);
  CHECK(env_of({{"TRANSFORMERS_OFFLINE", "1"}}).offline);
}

TEST_CASE("cache names and the pull command", "[hub]") {
  CHECK(hub::repo_folder_name("EleutherAI/pythia-70m-deduped") == "models--EleutherAI--pythia-70m-deduped");
  CHECK(hub::repo_folder_name("gpt2") == "models--gpt2");
  CHECK(hub::is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  CHECK_FALSE(hub::is_commit_hash("main"));
  CHECK(hub::pull_command("org/m", "step1", "") == "rig pull org/m@step1");
  CHECK(hub::pull_command("org/m", "main", "data/c") == "rig pull org/m@main --cache-dir data/c");
  CHECK(hub::pull_command("org/m", "main", "my cache") == "rig pull org/m@main --cache-dir 'my cache'");
}

TEST_CASE("wanted files: only what rig reads, the index before its shards", "[hub]") {
  auto w = hub::wanted_files("o/m", {"README.md", "config.json", "tokenizer.json", "model.safetensors",
                                     "pytorch_model.bin", "special_tokens_map.json", "generation_config.json"});
  CHECK(w.files == std::vector<std::string>{"config.json", "generation_config.json", "tokenizer.json",
                                            "special_tokens_map.json", "model.safetensors"});
  CHECK(w.index.empty());
  w = hub::wanted_files("o/m", {"config.json", "tokenizer.json", "tokenizer_config.json",
                                "model.safetensors.index.json", "model-00001-of-00002.safetensors"});
  CHECK(w.index == "model.safetensors.index.json");
  CHECK(w.files.back() == "model.safetensors.index.json");
  CHECK_THROWS_AS(hub::wanted_files("o/m", {"config.json", "tokenizer.json", "pytorch_model.bin"}), ModelError);
  CHECK_THROWS_AS(hub::wanted_files("o/m", {"config.json", "model.safetensors"}), ModelError);
  CHECK(hub::index_shards(R"({"weight_map": {"a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})",
                          "i") == std::vector<std::string>{"s1.safetensors", "s2.safetensors"});
  CHECK_THROWS_AS(hub::index_shards(R"({"weight_map": {"a": "../x"}})", "i"), ModelError);
  CHECK_THROWS_AS(hub::index_shards("{", "i"), ModelError);
}

TEST_CASE("find_snapshot and missing_files read a cache offline", "[hub]") {
  const fs::path cache = fs::temp_directory_path() / ("rig-hub-unit-" + std::to_string(::getpid()));
  fs::remove_all(cache);
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  const fs::path repo = cache / "models--o--m";
  CHECK(hub::find_snapshot(cache, "o/m", "main").empty());
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots" / commit);
  std::ofstream(repo / "refs" / "main") << commit;
  CHECK(hub::find_snapshot(cache, "o/m", "main") == repo / "snapshots" / commit);
  CHECK(hub::find_snapshot(cache, "o/m", commit) == repo / "snapshots" / commit);
  CHECK(hub::find_snapshot(cache, "o/m", "v1").empty());
  const fs::path snap = repo / "snapshots" / commit;
  CHECK(hub::missing_files(snap) == std::vector<std::string>{"config.json", "tokenizer.json", "model.safetensors"});
  for (const char* f : {"config.json", "tokenizer.json"}) {
    std::ofstream(repo / "blobs" / f) << "{}";
    fs::create_symlink(fs::path("../../blobs") / f, snap / f);
  }
  fs::create_symlink("../../blobs/absent", snap / "model.safetensors");  // a dangling link is missing
  CHECK(hub::missing_files(snap) == std::vector<std::string>{"model.safetensors"});
  fs::remove(snap / "model.safetensors");
  std::ofstream(snap / "model.safetensors.index.json") << R"({"weight_map": {"a": "s1.safetensors"}})";
  CHECK(hub::missing_files(snap) == std::vector<std::string>{"s1.safetensors"});
  std::ofstream(snap / "s1.safetensors") << "x";
  CHECK(hub::missing_files(snap).empty());
  fs::remove_all(cache);
}

TEST_CASE("sha256 of known vectors, fed in pieces", "[hub]") {
  CHECK(hub::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hub::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(hub::sha256_hex(m) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  hub::Sha256 s;
  for (size_t i = 0; i < million.size(); i += 777)
    s.update(million.data() + i, std::min<size_t>(777, million.size() - i));
  CHECK(s.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
