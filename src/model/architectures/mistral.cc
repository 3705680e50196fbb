// MistralForCausalLM: Llama without biases, with sliding-window attention in every layer
// when config.json sets sliding_window (Mistral 7B v0.1: 4096; later versions: null).
#include "model/architectures/llama_family.h"

namespace rig {

std::unique_ptr<CausalLM> make_mistral(const ModelConfig& c) {
  return make_llama_family(c, {"Mistral", /*qkv_bias=*/false, /*o_bias=*/false, /*mlp_bias=*/false, /*qk_norm=*/false});
}

}  // namespace rig
