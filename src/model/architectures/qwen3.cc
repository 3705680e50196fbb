// Qwen3ForCausalLM: Llama with q_norm and k_norm (RMSNorm over Dh, per head, before rotary),
// attention_bias on all four projections, an explicit head_dim and no MLP bias.
#include "model/architectures/llama_family.h"

namespace rig {

std::unique_ptr<CausalLM> make_qwen3(const ModelConfig& c) {
  return make_llama_family(c, {"Qwen3", c.attention_bias, c.attention_bias, /*mlp_bias=*/false, /*qk_norm=*/true});
}

}  // namespace rig
