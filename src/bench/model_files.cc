// The bench's model: seeded random weights in HF's on-disk format, and a tokenizer whose
// token count is known from the prompt's length.
#include <ATen/CPUGeneratorImpl.h>

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

namespace {

json bench_tokenizer(int64_t vocab_size) {
  json vocab = json::object();
  vocab["<|endoftext|>"] = 0;
  for (int b = 0; b < 256; ++b) vocab[tok::byte_to_unicode(static_cast<unsigned char>(b))] = b + 1;
  // Placeholders up to the model's vocabulary, so that every id the model can generate
  // decodes (pythia's own tokenizer is likewise smaller than its padded embedding).
  for (int64_t id = 257; id < vocab_size; ++id) vocab["<tok" + std::to_string(id) + ">"] = id;
  json added = json::array();
  added.push_back({{"id", 0}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
                   {"rstrip", false}, {"normalized", false}, {"special", true}});
  json t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = added;
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  t["post_processor"] = nullptr;
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  t["model"] = {{"type", "BPE"},          {"dropout", nullptr}, {"unk_token", nullptr},
                {"fuse_unk", false},      {"byte_fallback", false}, {"vocab", vocab},
                {"merges", json::array()}};
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

std::string random_letters(int64_t n, uint64_t* state) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;  // LCG (Knuth's MMIX)
    s += char('a' + (*state >> 33) % 26);
  }
  return s;
}

}  // namespace rig::bench
