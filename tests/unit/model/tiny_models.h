#pragma once
// Tiny models of every architecture in the registry, for the model tests: a config of each that
// departs from its defaults where a round trip could lose something, random weights, and a
// fresh directory to save them in.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/architectures/architectures.h"
#include "model/config.h"
#include "model/loader.h"

namespace rig::test {

// An empty directory under the system's temp dir, unique to this process.
inline std::filesystem::path temp_model_dir(const std::string& prefix, const std::string& name) {
  const std::filesystem::path d =
      std::filesystem::temp_directory_path() / (prefix + "_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return std::filesystem::canonical(d);
}

// A tiny config of a that departs from its defaults where a round trip could lose something:
// grouped-query heads, biases, rotary fraction and scaling, sliding windows, soft-capping.
inline rig::ModelConfig tiny_config(const rig::Architecture& a) {
  const std::string type = a.model_type;
  const bool llama_like = type != "gpt_neox" && type != "gpt2";
  rig::ModelConfig c;
  c.model_type = type;
  c.architecture = a.architecture;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = llama_like ? 2 : 4;
  c.head_dim = type == "qwen3" || type == "gemma2" ? 6 : 4;  // 5.x: head_dim need not be hidden / heads
  c.attention_bias = type == "gpt_neox" || type == "qwen3";  // written and read back (GPT-NeoX's default is true)
  c.mlp_bias = type == "llama";
  c.intermediate_size = 24;
  c.max_positions = 32;
  c.norm_eps = 1e-6;
  c.hidden_act = type == "gpt2" ? "gelu_new" : type == "gemma2" ? "gelu_pytorch_tanh" : llama_like ? "silu" : "gelu";
  c.partial_rotary_factor = type == "gpt_neox" ? 0.25 : 1.0;
  c.rope_theta = type == "gpt2" ? 10000.0 : 500.0;
  if (type == "llama") {
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 4.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 2.0;
    c.rope_scaling.original_max_positions = 16;
  }
  c.tie_word_embeddings = type == "gpt2" || type == "gemma2";
  c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = type == "gpt2" ? 0.1 : 0.0;
  c.sliding_layers.assign(3, false);
  if (type == "mistral" || type == "qwen2" || type == "qwen3" || type == "gemma2") {
    c.sliding_window = 4;
    c.sliding_layers = type == "mistral" ? std::vector<bool>{true, true, true} : std::vector<bool>{true, false, true};
  }
  if (type == "gemma2") {
    c.query_pre_attn_scalar = 5;
    c.attn_logit_softcapping = 2.0;  // and no final soft-capping (null)
    c.pad_token_id = 0;
  }
  c.bos_token_id = c.eos_token_id = 0;
  c.torch_dtype = "float32";
  return c;
}

// The registry's architecture of `model_type`.
inline const rig::Architecture& architecture(const std::string& model_type) {
  for (const rig::Architecture& a : rig::architectures())
    if (a.model_type == model_type) return a;
  throw rig::Error("no architecture '" + model_type + "' in the registry");
}

// Fills every parameter with seeded normal values (tied ones share their source).
inline void randomize(rig::CausalLM& m, uint64_t seed, double stddev = 1.0) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> by_key;
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) {
      const std::string key = mod.path().empty() ? p.name : mod.path() + "." + p.name;
      p.value = at::empty(p.shape).normal_(0, stddev, gen);
      by_key[key] = p.value;
    }
  });
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) {
      const std::string key = mod.path().empty() ? p.name : mod.path() + "." + p.name;
      if (auto src = m.tied_to(key)) p.value = by_key.at(*src);
    }
  });
}

inline std::map<std::string, at::Tensor> params_of(rig::CausalLM& m) {
  std::map<std::string, at::Tensor> r;
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) r[mod.path().empty() ? p.name : mod.path() + "." + p.name] = p.value;
  });
  return r;
}

}  // namespace rig::test
