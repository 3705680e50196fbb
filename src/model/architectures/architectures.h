#pragma once
// The architecture registry: config.json's model_type -> the *ForCausalLM class rig builds.
// One file per architecture (gpt_neox.cc, gpt2.cc, llama.cc, qwen2.cc, ...); tests sweep them all.
#include <memory>
#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace rig {

struct Architecture {
  const char* model_type;    // config.json "model_type"
  const char* architecture;  // config.json "architectures"[0]
  std::unique_ptr<CausalLM> (*make)(const ModelConfig&);
  std::vector<ConfigKey> keys;  // its config.json keys, read and written (config.h)
};

const std::vector<Architecture>& architectures();

// The entry for model_type; throws ModelError naming config_path and key 'model_type' and
// listing the supported ones where there is none.
const Architecture& find_architecture(const std::string& model_type, const std::string& config_path);

// Builds the (unloaded) module tree for a config; an unknown model_type or architecture
// is a ModelError listing the supported ones.
std::unique_ptr<CausalLM> make_causal_lm(const ModelConfig& config, const std::string& config_path);

std::unique_ptr<CausalLM> make_gpt_neox(const ModelConfig&);
std::unique_ptr<CausalLM> make_gpt2(const ModelConfig&);
std::unique_ptr<CausalLM> make_llama(const ModelConfig&);
std::unique_ptr<CausalLM> make_qwen2(const ModelConfig&);
std::unique_ptr<CausalLM> make_qwen3(const ModelConfig&);
std::unique_ptr<CausalLM> make_mistral(const ModelConfig&);
std::unique_ptr<CausalLM> make_gemma2(const ModelConfig&);

}  // namespace rig
