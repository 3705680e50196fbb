#pragma once
// The model hyper-parameters rig needs, read from an HF config.json in either the
// transformers 4.x style (rotary_pct, rotary_emb_base, rope_theta, n_embd, ...) or the 5.x
// style (rope_parameters {rope_theta, partial_rotary_factor}).
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rig {

struct ModelConfig {
  std::string model_type;    // config.json "model_type": gpt_neox | gpt2 | llama | qwen2 | qwen3 | mistral | gemma2
  std::string architecture;  // "architectures"[0], e.g. GPTNeoXForCausalLM
  int64_t vocab_size = 0;    // V
  int64_t hidden_size = 0;   // D
  int64_t num_layers = 0;    // L
  int64_t num_heads = 0;     // H
  int64_t num_kv_heads = 0;  // Hkv (== H without grouped-query attention)
  int64_t head_dim = 0;      // Dh
  int64_t intermediate_size = 0;  // F
  int64_t max_positions = 0;
  double norm_eps = 1e-5;
  std::string hidden_act;  // gelu | gelu_new | silu | ...
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;
  // Rotary scaling: 5.x rope_parameters.rope_type, 4.x rope_scaling.type | rope_type, with
  // transformers' parameter names (modeling_rope_utils.py).
  struct RopeScaling {
    std::string type = "default";                                    // default | linear | dynamic | llama3 | yarn
    std::optional<double> factor;                                    // linear, dynamic, llama3; yarn (unset: derived)
    double low_freq_factor = 0, high_freq_factor = 0;                // llama3
    int64_t original_max_positions = 0;                              // llama3, yarn (unset: max_positions)
    std::optional<double> attention_factor, mscale, mscale_all_dim;  // yarn
    double beta_fast = 32, beta_slow = 1;                            // yarn
    bool truncate = true;                                            // yarn
  } rope_scaling;
  bool use_parallel_residual = true;  // GPT-NeoX
  // Training-time dropout rates: identities at inference, shown by `rig inspect` as HF does.
  double embd_pdrop = 0.0, attn_pdrop = 0.0, resid_pdrop = 0.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;                   // q/k/v/o bias (Llama: default off; GPT-NeoX: default on)
  bool scale_attn_weights = true;                // GPT-2: scores / sqrt(Dh)
  bool scale_attn_by_inverse_layer_idx = false;  // GPT-2: scores / (layer + 1) as well
  bool mlp_bias = false;                         // Llama MLP bias
  // Sliding-window attention (Mistral, Qwen2/3, Gemma 2): a query sees the last sliding_window
  // positions, in the layers marked in sliding_layers ([L]); 0 = every layer sees all.
  int64_t sliding_window = 0;
  std::vector<bool> sliding_layers;
  std::optional<int64_t> bos_token_id, eos_token_id;
  // Gemma 2: scores scaled by query_pre_attn_scalar^-0.5 (not head_dim^-0.5); soft-capping
  // cap * tanh(x / cap) of the attention scores and of the final logits (unset: none, as
  // config.json's null); pad_token_id, which print(model) shows as the embedding's padding_idx.
  double query_pre_attn_scalar = 0;
  std::optional<double> attn_logit_softcapping, final_logit_softcapping;
  std::optional<int64_t> pad_token_id;
  std::string torch_dtype;  // stored dtype as config.json says (informational)

  // How many positions a sequence may use: max_position_embeddings (GPT-2's table ends
  // there; rotary models were trained up to it), except under dynamic rope scaling, which
  // exists to go past it (transformers rescales there): then rig's own limit
  // (core/limits.h kMaxPositions). position_limit_source() says which, for messages, naming
  // config_json (the file's path where the caller knows it).
  int64_t position_limit() const;
  std::string position_limit_source(const std::string& config_json = "config.json") const;

  // Reads and validates path (a config.json) through its architecture's keys (ConfigKey).
  // Throws ModelError naming the file and key, or listing the architectures for an unknown
  // model_type.
  static ModelConfig from_file(const std::filesystem::path& path);

  // config.json in the transformers 4.x spelling of model_type: the same keys from_file reads
  // (ConfigKey), rotary scaling and sliding windows; loads back (from_file, and transformers'
  // from_pretrained) to the same model. Throws ModelError for an unknown model_type.
  nlohmann::json to_json() const;
};

// One config.json key of an architecture. Each registry entry (architectures.h) lists its keys;
// ModelConfig::from_file reads and ModelConfig::to_json writes exactly those, so each key,
// spelling and default is named once. Rotary scaling and sliding windows (nested, or spread
// over several keys) are read and written beside them in config.cc.
struct ConfigKey {
  using Member =
      std::variant<int64_t ModelConfig::*, double ModelConfig::*, bool ModelConfig::*, std::string ModelConfig::*,
                   std::optional<int64_t> ModelConfig::*, std::optional<double> ModelConfig::*>;
  using Derived = int64_t (*)(const ModelConfig&);  // a default from the keys read before
  // monostate: required (an optional member: unset); otherwise of the member's type.
  using Default = std::variant<std::monostate, int64_t, double, bool, std::string, Derived>;

  const char* name;               // written: the HF config class's spelling; nullptr: read only
  std::vector<const char*> read;  // spellings read, first found wins (4.x, 5.x, GPT-2's n_*); errors name read[0]
  Member member;
  Default fallback;           // where no spelling is present (or is null, unless nullable)
  int64_t limit = 0;          // integers: rig's limit (core/limits.h); 0: none
  bool nullable = false;      // null means none (std::nullopt), not the default
  bool positive = false;      // numbers: must be > 0
  bool token = false;         // token id (an int or a list's first); checked below vocab_size unless nullable
  bool omit_default = false;  // written only where it differs from the default (transformers' own habit)
  bool whole = false;         // a double written as an integer where whole (transformers 5 types it int)
};

}  // namespace rig
