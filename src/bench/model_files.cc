// The bench's model: seeded random weights in HF's on-disk format, and a tokenizer whose
// token count is known from the prompt's length.
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bench/internal.h"
#include "core/error.h"
#include "model/architectures/architectures.h"
#include "model/save.h"
#include "tokenizer/utf8.h"

namespace rig::bench {
namespace fs = std::filesystem;
using nlohmann::json;

ModelConfig bench_model_config(bool quick) {
  ModelConfig c;
  c.model_type = "gpt_neox";
  c.architecture = "GPTNeoXForCausalLM";
  // EleutherAI/pythia-70m's config.json; --quick: the same architecture, tiny.
  c.vocab_size = quick ? 512 : 50304;
  c.hidden_size = quick ? 64 : 512;
  c.num_layers = quick ? 2 : 6;
  c.num_heads = quick ? 4 : 8;
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  c.intermediate_size = 4 * c.hidden_size;
  c.attention_bias = true;  // Pythia's query_key_value and dense have biases
  c.max_positions = 2048;
  c.norm_eps = 1e-5;
  c.hidden_act = "gelu";
  c.rope_theta = 10000;
  c.partial_rotary_factor = 0.25;
  c.use_parallel_residual = true;
  c.tie_word_embeddings = false;
  c.bos_token_id = 0;
  c.eos_token_id = 0;
  c.torch_dtype = "float32";
  return c;
}

ModelConfig full_size_model_config(bool quick) {
  ModelConfig c;
  c.model_type = "llama";
  c.architecture = "LlamaForCausalLM";
  // TinyLlama's widths and grouped-query attention with a 4x MLP and 22 layers: 1.47 B
  // parameters, 2.94 GB in bfloat16. --quick: the same architecture, tiny.
  c.vocab_size = quick ? 512 : 32000;
  c.hidden_size = quick ? 64 : 2048;
  c.num_layers = quick ? 2 : 22;
  c.num_heads = quick ? 4 : 32;
  c.num_kv_heads = quick ? 2 : 8;
  c.head_dim = c.hidden_size / c.num_heads;
  c.intermediate_size = 4 * c.hidden_size;
  c.max_positions = 2048;
  c.norm_eps = 1e-5;
  c.hidden_act = "silu";
  c.rope_theta = 10000;
  c.tie_word_embeddings = false;
  c.bos_token_id = 0;
  c.eos_token_id = 0;
  c.torch_dtype = "bfloat16";
  return c;
}

namespace {

json bench_tokenizer(int64_t vocab_size) {
  json vocab = json::object();
  vocab["<|endoftext|>"] = 0;
  for (int b = 0; b < 256; ++b) vocab[tok::byte_to_unicode(static_cast<unsigned char>(b))] = b + 1;
  // Placeholders up to the model's vocabulary, so that every id the model can generate
  // decodes (pythia's own tokenizer is likewise smaller than its padded embedding).
  for (int64_t id = 257; id < vocab_size; ++id) vocab["<tok" + std::to_string(id) + ">"] = id;
  json added = json::array();
  added.push_back({{"id", 0},
                   {"content", "<|endoftext|>"},
                   {"single_word", false},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"normalized", false},
                   {"special", true}});
  json t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = added;
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  t["post_processor"] = nullptr;
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  t["model"] = {{"type", "BPE"},          {"dropout", nullptr}, {"unk_token", nullptr},   {"fuse_unk", false},
                {"byte_fallback", false}, {"vocab", vocab},     {"merges", json::array()}};
  return t;
}

}  // namespace

void write_bench_model(const ModelConfig& config, const fs::path& dir, uint64_t seed) {
  auto model = make_causal_lm(config, (dir / "config.json").string());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  model->visit([&](Module& m) {
    for (Parameter& p : m.parameters()) {
      if (m.type() == "LayerNorm") p.value = p.name == "weight" ? at::ones(p.shape) : at::zeros(p.shape);
      else p.value = at::normal(0.0, 0.02, p.shape, gen);
    }
  });
  save_model_dir(*model, config, dir, at::kFloat);
  std::ofstream out(dir / "tokenizer.json", std::ios::trunc);
  out << bench_tokenizer(config.vocab_size).dump() << "\n";
  if (!out) throw Error((dir / "tokenizer.json").string() + ": write failed");
}

int64_t write_sharded_model(const ModelConfig& config, const fs::path& dir, uint64_t seed, at::ScalarType store_dtype,
                            int64_t shard_bytes) {
  auto model = make_causal_lm(config, (dir / "config.json").string());
  fs::create_directories(dir);
  // The tensors in file order, cut into shards of at most shard_bytes (a tensor larger than
  // that gets a shard of its own). Shapes only: the values are made shard by shard.
  struct Item {
    std::string key;
    std::vector<int64_t> shape;
    bool norm;
  };
  std::vector<std::vector<Item>> shards(1);
  int64_t in_shard = 0, total = 0;
  const int64_t esize = int64_t(c10::elementSize(store_dtype));
  model->visit([&](Module& m) {
    for (const Parameter& p : m.parameters()) {
      const std::string key = m.path().empty() ? p.name : m.path() + "." + p.name;
      if (model->tied_to(key)) continue;  // HF leaves tied weights out of the checkpoint
      int64_t n = esize;
      for (int64_t d : p.shape) n *= d;
      if (in_shard > 0 && in_shard + n > shard_bytes) shards.emplace_back(), in_shard = 0;
      const bool norm = m.type() == "LayerNorm" || m.type().find("RMSNorm") != std::string::npos;
      shards.back().push_back({key, p.shape, norm});
      in_shard += n;
      total += n;
    }
  });
  model.reset();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  json weight_map = json::object();
  const size_t n_shards = shards.size();
  auto shard_name = [&](size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n_shards);
    return std::string(buf);
  };
  for (size_t i = 0; i < n_shards; ++i) {
    std::vector<std::pair<std::string, at::Tensor>> tensors;  // one shard in memory at a time
    for (const Item& it : shards[i]) {
      at::Tensor v = it.norm ? at::ones(it.shape) : at::normal(0.0, 0.02, it.shape, gen);
      tensors.emplace_back(it.key, v.to(store_dtype));
      weight_map[it.key] = shard_name(i);
    }
    save_safetensors(dir / shard_name(i), tensors, {{"format", "pt"}});
  }
  const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream idx(dir / "model.safetensors.index.json", std::ios::trunc);
  idx << index.dump(2) << "\n";
  std::ofstream cfg(dir / "config.json", std::ios::trunc);
  cfg << config_json(config, store_dtype).dump(2) << "\n";
  std::ofstream tok(dir / "tokenizer.json", std::ios::trunc);
  tok << bench_tokenizer(config.vocab_size).dump() << "\n";
  if (!idx || !cfg || !tok) throw Error(dir.string() + ": write failed");
  return total;
}

std::string random_letters(int64_t n, uint64_t* state) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;  // LCG (Knuth's MMIX)
    s += char('a' + (*state >> 33) % 26);
  }
  return s;
}

}  // namespace rig::bench
