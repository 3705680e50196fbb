#include "model/architectures/architectures.h"

#include "core/error.h"

namespace rig {

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"gpt_neox", "GPTNeoXForCausalLM", make_gpt_neox},
      {"gpt2", "GPT2LMHeadModel", make_gpt2},
      {"llama", "LlamaForCausalLM", make_llama},
      {"qwen2", "Qwen2ForCausalLM", make_qwen2},
      {"qwen3", "Qwen3ForCausalLM", make_qwen3},
      {"mistral", "MistralForCausalLM", make_mistral},
      {"gemma2", "Gemma2ForCausalLM", make_gemma2},
  };
  return table;
}

std::unique_ptr<CausalLM> make_causal_lm(const ModelConfig& config, const std::string& config_path) {
  std::string supported;
  for (const auto& a : architectures()) {
    if (config.model_type == a.model_type) {
      if (!config.architecture.empty() && config.architecture != a.architecture)
        throw ModelError(config_path + ": key 'architectures': '" + config.architecture +
                         "' is not a causal LM rig supports for model_type '" + config.model_type +
                         "' (supported: " + a.architecture + ")");
      if (!Activation::supported(config.hidden_act) && !config.hidden_act.empty())
        throw ModelError(config_path + ": key '" + (config.model_type == "gemma2" ? "hidden_activation" : "hidden_act") +
                         "': unsupported activation '" + config.hidden_act + "'");
      return a.make(config);
    }
    supported += std::string(supported.empty() ? "" : ", ") + a.architecture + " (" + a.model_type + ")";
  }
  throw ModelError(config_path + ": key 'model_type': unknown architecture '" + config.model_type +
                   "'; rig supports " + supported);
}

}  // namespace rig
