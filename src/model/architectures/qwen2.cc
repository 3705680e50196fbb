// Qwen2ForCausalLM (Qwen2, Qwen2.5): Llama with biases on q_proj, k_proj and v_proj (always,
// whatever attention_bias says) and none on o_proj or the MLP; sliding windows as configured.
#include "model/architectures/llama_family.h"

namespace rig {

std::unique_ptr<CausalLM> make_qwen2(const ModelConfig& c) {
  return make_llama_family(c, {"Qwen2", /*qkv_bias=*/true, /*o_bias=*/false, /*mlp_bias=*/false, /*qk_norm=*/false});
}

}  // namespace rig
