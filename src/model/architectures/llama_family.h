#pragma once
// The Llama-shaped decoder that Qwen2, Qwen3 and Mistral reuse: transformers derives their
// classes from Llama's (modular_*.py) and changes only what a LlamaFamily lists.
#include "model/architectures/architectures.h"

namespace rig {

struct LlamaFamily {
  std::string prefix;  // HF's class-name prefix: "Llama" -> LlamaAttention, LlamaRMSNorm, ...
  bool qkv_bias;       // q_proj, k_proj, v_proj
  bool o_bias;         // o_proj
  bool mlp_bias;       // gate_proj, up_proj, down_proj
  bool qk_norm;        // Qwen3: RMSNorm over Dh on each head of q and k, before rotary
};

// The *ForCausalLM of a family; sliding windows come from the config (sliding_layers).
std::unique_ptr<CausalLM> make_llama_family(const ModelConfig& c, const LlamaFamily& family);

}  // namespace rig
