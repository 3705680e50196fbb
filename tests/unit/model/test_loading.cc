// Loading from disk: the HF hub cache layout, both config.json styles, sharded checkpoints,
// and bad input (truncated or inconsistent safetensors, missing keys, unknown architectures,
// a missing tokenizer), each a ModelError naming the file and the tensor or key.
#include <ATen/ATen.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "catch.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/architectures/architectures.h"
#include "model/generate.h"
#include "model/hub.h"
#include "model/loader.h"
#include "model/weights.h"
#include "shared.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("rig-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Writes a safetensors file from a header (JSON text) and a data section.
void write_raw(const fs::path& p, const std::string& header, const std::string& data, int64_t header_len = -1) {
  std::ofstream out(p, std::ios::binary);
  uint64_t n = header_len < 0 ? header.size() : uint64_t(header_len);
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << header << data;
}

// The error message of f(), or "" when it does not throw a rig::ModelError.
template <class F>
std::string model_error(F f) {
  try {
    f();
  } catch (const rig::ModelError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Copies a golden model dir (config + weights + tokenizer) so tests can break it.
fs::path copy_model(const fs::path& src, const std::string& name) {
  fs::path d = temp_dir(name);
  for (auto f : {"config.json", "model.safetensors", "tokenizer.json"}) fs::copy_file(src / f, d / f);
  return d;
}

}  // namespace

TEST_CASE("safetensors: truncated and inconsistent files are errors naming file and tensor", "[model][io]") {
  const fs::path d = temp_dir("st");
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  write_raw(d / "ok.safetensors", ok_header, std::string(8, '\0'));
  auto f = rig::SafetensorsFile::open(d / "ok.safetensors");
  REQUIRE(f->find("a"));
  CHECK(f->find("a")->numel() == 2);

  write_raw(d / "short.safetensors", "", "", -1);
  { std::ofstream(d / "tiny.safetensors") << "abc"; }
  CHECK(contains(model_error([&] { rig::SafetensorsFile::open(d / "tiny.safetensors"); }), "tiny.safetensors"));

  write_raw(d / "hlen.safetensors", ok_header, std::string(8, '\0'), 1 << 20);
  const auto e1 = model_error([&] { rig::SafetensorsFile::open(d / "hlen.safetensors"); });
  CHECK(contains(e1, "hlen.safetensors"));
  CHECK(contains(e1, "header length"));

  write_raw(d / "past.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  const auto e2 = model_error([&] { rig::SafetensorsFile::open(d / "past.safetensors"); });
  CHECK(contains(e2, "'w'"));
  CHECK(contains(e2, "outside the data section"));

  write_raw(
      d / "overlap.safetensors",
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      std::string(12, '\0'));
  const auto e3 = model_error([&] { rig::SafetensorsFile::open(d / "overlap.safetensors"); });
  CHECK(contains(e3, "overlapping"));
  CHECK(contains(e3, "'x'"));

  write_raw(d / "count.safetensors", R"({"z":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  CHECK(contains(model_error([&] { rig::SafetensorsFile::open(d / "count.safetensors"); }), "needs 6"));

  write_raw(d / "dtype.safetensors", R"({"z":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}})",
            std::string(1, '\0'));
  CHECK(contains(model_error([&] { rig::SafetensorsFile::open(d / "dtype.safetensors"); }), "unsupported dtype"));

  write_raw(d / "json.safetensors", "{not json", "");
  CHECK(contains(model_error([&] { rig::SafetensorsFile::open(d / "json.safetensors"); }), "not valid JSON"));
}

TEST_CASE("weights that disagree with config.json name the file and the tensor", "[model]") {
  const fs::path src = rig::test::kOrganism;
  const fs::path d = copy_model(src, "shape");
  json cfg = json::parse(std::ifstream(d / "config.json"));
  cfg["intermediate_size"] = 128;
  std::ofstream(d / "config.json") << cfg.dump();
  const auto e = model_error([&] { rig::load_model(rig::ModelSource{d}); });
  CHECK(contains(e, "model.safetensors"));
  CHECK(contains(e, "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"));
  CHECK(contains(e, "expected [128, 128]"));  // the organism: hidden 128, intermediate 512, 4 layers

  cfg["intermediate_size"] = 512;
  cfg["num_hidden_layers"] = 3;  // the checkpoint has a fourth layer
  std::ofstream(d / "config.json") << cfg.dump();
  CHECK(contains(model_error([&] { rig::load_model(rig::ModelSource{d}); }), "unexpected tensor(s) gpt_neox.layers.3"));

  cfg["num_hidden_layers"] = 5;  // ... or lacks a fifth
  std::ofstream(d / "config.json") << cfg.dump();
  CHECK(contains(model_error([&] { rig::load_model(rig::ModelSource{d}); }), "missing tensor(s) gpt_neox.layers.4"));
}

TEST_CASE("config.json: missing keys, unknown architectures, missing tokenizer", "[model]") {
  RIG_REQUIRE_SHARED(src, "golden/models/llama-tiny");
  const fs::path d = copy_model(src, "cfg");
  json cfg = json::parse(std::ifstream(d / "config.json"));

  json no_hidden = cfg;
  no_hidden.erase("hidden_size");
  std::ofstream(d / "config.json") << no_hidden.dump();
  const auto e1 = model_error([&] { rig::load_model(rig::ModelSource{d}); });
  CHECK(contains(e1, "config.json"));
  CHECK(contains(e1, "'hidden_size'"));

  json mamba = cfg;
  mamba["model_type"] = "mamba";
  std::ofstream(d / "config.json") << mamba.dump();
  const auto e2 = model_error([&] { rig::load_model(rig::ModelSource{d}); });
  CHECK(contains(e2, "unknown architecture 'mamba'"));
  CHECK(contains(e2, "GPTNeoXForCausalLM"));
  CHECK(contains(e2, "LlamaForCausalLM"));
  CHECK(contains(e2, "Qwen2ForCausalLM (qwen2)"));

  // An unsupported rope type names the key and lists the supported types, in both styles.
  json longrope = cfg;
  longrope["rope_scaling"] = {{"type", "longrope"}, {"factor", 2.0}};
  std::ofstream(d / "config.json") << longrope.dump();
  const auto e3 = model_error([&] { rig::load_model(rig::ModelSource{d}); });
  CHECK(contains(e3, "'rope_scaling.type'"));
  CHECK(contains(e3, "default, linear, dynamic, llama3 and yarn, got 'longrope'"));
  json no_factor = cfg;
  no_factor.erase("rope_scaling");
  no_factor["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 10000.0}};
  std::ofstream(d / "config.json") << no_factor.dump();
  CHECK(contains(model_error([&] { rig::load_model(rig::ModelSource{d}); }), "'rope_parameters.factor': missing"));

  std::ofstream(d / "config.json") << cfg.dump();
  fs::remove(d / "tokenizer.json");
  CHECK(contains(model_error([&] { rig::load_model(rig::ModelSource{d}); }), "tokenizer.json not found"));

  CHECK(contains(model_error([&] { rig::load_model(rig::ModelSource{d / "nope"}); }), "not found"));
}

TEST_CASE("both config.json styles give the same model config", "[model]") {
  for (const char* m : {"gptneox-tiny", "gpt2-tiny", "llama-tiny"}) {
    RIG_REQUIRE_SHARED(dir, std::string("golden/models/") + m);
    const auto a = rig::ModelConfig::from_file(dir / "config.json");
    const auto b = rig::ModelConfig::from_file(dir / "config.transformers5.json");
    INFO(m);
    CHECK(a.hidden_size == b.hidden_size);
    CHECK(a.num_heads == b.num_heads);
    CHECK(a.num_kv_heads == b.num_kv_heads);
    CHECK(a.head_dim == b.head_dim);
    CHECK(a.rope_theta == b.rope_theta);
    CHECK(a.partial_rotary_factor == b.partial_rotary_factor);
    CHECK(a.tie_word_embeddings == b.tie_word_embeddings);
    CHECK(a.use_parallel_residual == b.use_parallel_residual);
    if (!a.torch_dtype.empty()) CHECK(a.torch_dtype == b.torch_dtype);
  }
}

TEST_CASE("hub cache layout: refs/REVISION -> snapshots/HASH, and a hint when absent", "[model]") {
  const fs::path src = rig::test::kOrganism;
  const fs::path cache = temp_dir("hub");
  const std::string hash = "0123456789abcdef0123456789abcdef01234567";
  const fs::path repo = cache / "models--EleutherAI--pythia-70m-deduped";
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots" / hash);
  std::ofstream(repo / "refs" / "step143000") << hash;
  // As the hub client leaves it: snapshot files are symlinks into blobs/.
  for (auto f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    fs::copy_file(src / f, repo / "blobs" / f);
    fs::create_symlink(fs::path("../../blobs") / f, repo / "snapshots" / hash / f);
  }
  rig::ModelSource s;
  s.id = "EleutherAI/pythia-70m-deduped";
  s.revision = "step143000";
  s.cache_dir = cache;
  const auto lm = rig::load_model(s);
  CHECK(lm.model->type() == "GPTNeoXForCausalLM");
  CHECK(lm.revision == "step143000");

  s.revision = "step1000";
  const auto e = model_error([&] { rig::load_model(s); });
  CHECK(contains(e, "step1000"));
  CHECK(contains(e, "rig pull EleutherAI/pythia-70m-deduped@step1000 --cache-dir " + cache.string()));
  s.cache_dir = cache / "elsewhere";
  CHECK(contains(model_error([&] { rig::load_model(s); }), "rig pull EleutherAI/pythia-70m-deduped@step1000"));
}

TEST_CASE("sharded checkpoints load like a single file", "[model]") {
  RIG_REQUIRE_SHARED(src, "golden/models/gpt2-tiny");
  const fs::path d = copy_model(src, "shards");
  const auto one = rig::load_model(rig::ModelSource{d});
  // Split model.safetensors into two shards + index, as save_pretrained(max_shard_size=...) does.
  auto file = rig::SafetensorsFile::open(d / "model.safetensors");
  json index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  std::vector<std::pair<std::string, const rig::StTensor*>> all;
  for (const auto& [k, t] : file->tensors()) all.emplace_back(k, &t);
  for (int shard = 0; shard < 2; ++shard) {
    json header = json::object();
    std::string data;
    for (size_t i = shard; i < all.size(); i += 2) {
      const auto* t = all[i].second;
      header[all[i].first] = {{"dtype", rig::st_dtype_name(t->dtype)},
                              {"shape", t->shape},
                              {"data_offsets", {data.size(), data.size() + t->nbytes}}};
      data.append(reinterpret_cast<const char*>(t->data), t->nbytes);
      index["weight_map"][all[i].first] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
    }
    write_raw(d / ("model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors"), header.dump(), data);
  }
  file.reset();
  fs::remove(d / "model.safetensors");
  std::ofstream(d / "model.safetensors.index.json") << index.dump();
  const auto two = rig::load_model(rig::ModelSource{d});
  const std::vector<std::vector<int64_t>> prompt = {{1, 2, 3, 4}};
  const at::Tensor a = rig::forward_batch(*one.model, prompt, nullptr, at::kCPU);
  const at::Tensor b = rig::forward_batch(*two.model, prompt, nullptr, at::kCPU);
  CHECK(at::equal(a, b));
}

TEST_CASE("float16 and bfloat16 compute dtypes load and run", "[model]") {
  const fs::path src = rig::test::kOrganism;
  rig::ModelSource s{src};
  const auto f32 = rig::load_model(s);
  const at::Tensor ref = rig::forward_batch(*f32.model, {{5, 6, 7}}, nullptr, at::kCPU);
  for (auto dt : {at::kBFloat16, at::kHalf}) {
    s.dtype = rig::dtype_name(dt);
    if (dt == at::kHalf && !rig::cpu_supports_float16()) {
      // LibTorch 1.13 has no float16 LayerNorm/matmul kernels on the CPU: a clear error.
      try {
        rig::load_model(s);
        FAIL("float16 on a CPU without float16 kernels should be refused");
      } catch (const rig::ConfigError& e) {
        CHECK(contains(e.what(), "bfloat16"));
      }
      continue;
    }
    const auto lm = rig::load_model(s);
    const at::Tensor out = rig::forward_batch(*lm.model, {{5, 6, 7}}, nullptr, at::kCPU);
    CHECK(out.scalar_type() == dt);
    // Low precision is close, not equal: the argmax of the last position agrees.
    CHECK(out[0][-1].argmax().item<int64_t>() == ref[0][-1].argmax().item<int64_t>());
  }
}
