#include "model/provenance.h"

#include <torch/version.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/sha256.h"
#include "io/hdf5.h"

namespace rig {
namespace fs = std::filesystem;

namespace {

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("g++ ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

std::string file_sha256(const fs::path& path) {
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    const fs::path target = fs::read_symlink(path, ec);
    if (!ec && target.parent_path().filename() == "blobs" && is_sha256_hex(target.filename().string()))
      return target.filename().string();
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw ModelError(path.string() + ": cannot read it to compute its sha256");
  hub::Sha256 sha;
  std::vector<char> buf(size_t(4) << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) sha.update(buf.data(), n);
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw ModelError(path.string() + ": read error while computing its sha256");
  return sha.hex();
}

ModelProvenance model_provenance(const fs::path& dir) {
  std::set<std::string> weights;  // by name: the digest does not depend on listing order
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    weights.insert(index.filename().string());
    std::ifstream in(index);
    const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("weight_map") && j["weight_map"].is_object())
      for (const auto& shard : j["weight_map"])
        if (shard.is_string()) weights.insert(shard.get<std::string>());
  } else {
    weights.insert("model.safetensors");
  }
  ModelProvenance p;
  for (const auto& name : weights) p.weights_files += file_sha256(dir / name) + "  " + name + "\n";
  p.weights_sha256 = hub::sha256_hex(p.weights_files);
  p.config_sha256 = file_sha256(dir / "config.json");
  if (fs::exists(dir / "tokenizer.json")) p.tokenizer_sha256 = file_sha256(dir / "tokenizer.json");
  return p;
}

std::map<std::string, std::string> provenance_attributes(const ModelProvenance& p) {
  return {{"weights_sha256", p.weights_sha256},
          {"weights_files_sha256", p.weights_files},
          {"config_json_sha256", p.config_sha256},
          {"tokenizer_sha256", p.tokenizer_sha256},
          {"libtorch_version", TORCH_VERSION},
          {"hdf5_version", h5::library_version()},
          {"compiler", compiler()}};
}

}  // namespace rig
