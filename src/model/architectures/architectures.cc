#include "model/architectures/architectures.h"

#include "core/error.h"
#include "core/limits.h"

namespace rig {
namespace {

// The keys each architecture shares, under the spellings transformers' config class uses
// (`name`, written); every row reads all of a field's spellings, as hub configs vary.
using MC = ModelConfig;
using K = ConfigKey;
using S = std::string;

K vocab() { return {"vocab_size", {"vocab_size"}, &MC::vocab_size, {}, limits::kMaxVocab}; }
K hidden(const char* name) { return {name, {"hidden_size", "n_embd"}, &MC::hidden_size, {}, limits::kMaxHiddenSize}; }
K layers(const char* name) { return {name, {"num_hidden_layers", "n_layer"}, &MC::num_layers, {}, limits::kMaxLayers}; }
K heads(const char* name) { return {name, {"num_attention_heads", "n_head"}, &MC::num_heads, {}, limits::kMaxHeads}; }
// Without grouped-query attention (nullptr: read, never written): as many as heads.
K kv_heads(const char* name) {
  return {name,
          {"num_key_value_heads"},
          &MC::num_kv_heads,
          K::Derived([](const MC& c) { return c.num_heads; }),
          limits::kMaxHeads};
}
int64_t width_per_head(const MC& c) { return c.hidden_size / c.num_heads; }
// omit_default: a class without the attribute (Qwen2's, GPT-2's null n_inner) derives it.
K head_dim(const char* name, K::Derived fallback = width_per_head, bool omit_default = false) {
  K k{name, {"head_dim"}, &MC::head_dim, fallback, limits::kMaxHiddenSize};
  k.omit_default = omit_default;
  return k;
}
K intermediate(const char* name, bool omit_default = false) {
  K k{name,
      {"intermediate_size", "n_inner"},
      &MC::intermediate_size,
      K::Derived([](const MC& c) { return 4 * c.hidden_size; }),
      limits::kMaxIntermediateSize};
  k.omit_default = omit_default;
  return k;
}
K max_positions(const char* name, int64_t fallback = 2048) {
  return {
      name, {"max_position_embeddings", "n_positions", "n_ctx"}, &MC::max_positions, fallback, limits::kMaxPositions};
}
K norm_eps(const char* name, double fallback = 1e-5) {
  return {name, {"layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps"}, &MC::norm_eps, fallback};
}
K hidden_act(const char* name) { return {name, {"hidden_act", "activation_function"}, &MC::hidden_act, S()}; }
K embd_pdrop(const char* name, double d = 0.0) { return {name, {"embd_pdrop", "hidden_dropout"}, &MC::embd_pdrop, d}; }
K attn_pdrop(const char* name, double d = 0.0) {
  return {name, {"attn_pdrop", "attention_dropout"}, &MC::attn_pdrop, d};
}
K resid_pdrop(const char* name, double d = 0.0) {
  return {name, {"resid_pdrop", "hidden_dropout"}, &MC::resid_pdrop, d};
}
K flag(const char* name, bool MC::*member, bool fallback) { return {name, {name}, member, fallback}; }
K tie(bool fallback) { return flag("tie_word_embeddings", &MC::tie_word_embeddings, fallback); }
K attention_bias(bool fallback) { return flag("attention_bias", &MC::attention_bias, fallback); }
K token(const char* name, std::optional<int64_t> MC::*member) {
  K k{name, {name}, member, {}};
  k.token = true;
  return k;
}
K torch_dtype() { return {"torch_dtype", {"torch_dtype", "dtype"}, &MC::torch_dtype, S()}; }
// Rotary at top level (transformers 4.x); 5.x's rope_parameters is read beside (config.cc).
K rope_theta(const char* name) { return {name, {"rope_theta", "rotary_emb_base"}, &MC::rope_theta, 10000.0}; }
K partial_rotary(const char* name, bool omit_default) {
  K k{name, {"partial_rotary_factor", "rotary_pct"}, &MC::partial_rotary_factor, 1.0};
  k.omit_default = omit_default;
  return k;
}

std::vector<K> gpt_neox_keys() {
  return {vocab(), hidden("hidden_size"), layers("num_hidden_layers"), heads("num_attention_heads"), kv_heads(nullptr),
          head_dim(nullptr), intermediate("intermediate_size"), max_positions("max_position_embeddings"),
          norm_eps("layer_norm_eps"), hidden_act("hidden_act"),
          // GPTNeoXConfig has one hidden_dropout, for the embeddings and the residual stream
          embd_pdrop(nullptr), attn_pdrop("attention_dropout"), resid_pdrop("hidden_dropout"),
          flag("use_parallel_residual", &MC::use_parallel_residual, true), tie(false), attention_bias(true),
          token("bos_token_id", &MC::bos_token_id), token("eos_token_id", &MC::eos_token_id), torch_dtype(),
          rope_theta("rotary_emb_base"), partial_rotary("rotary_pct", false)};
}

std::vector<K> gpt2_keys() {
  return {vocab(),
          hidden("n_embd"),
          layers("n_layer"),
          heads("n_head"),
          kv_heads(nullptr),
          head_dim(nullptr),
          intermediate("n_inner", true),
          max_positions("n_positions"),
          norm_eps("layer_norm_epsilon"),
          hidden_act("activation_function"),
          embd_pdrop("embd_pdrop", 0.1),
          attn_pdrop("attn_pdrop", 0.1),
          resid_pdrop("resid_pdrop", 0.1),
          tie(true),
          flag("scale_attn_weights", &MC::scale_attn_weights, true),
          flag("scale_attn_by_inverse_layer_idx", &MC::scale_attn_by_inverse_layer_idx, false),
          token("bos_token_id", &MC::bos_token_id),
          token("eos_token_id", &MC::eos_token_id),
          torch_dtype()};
}

// Llama and the classes transformers derives from it (Qwen2, Qwen3, Mistral), plus extra.
std::vector<K> llama_family_keys(K head_dim_key, std::vector<K> extra) {
  std::vector<K> k = {vocab(),
                      hidden("hidden_size"),
                      layers("num_hidden_layers"),
                      heads("num_attention_heads"),
                      kv_heads("num_key_value_heads"),
                      head_dim_key,
                      intermediate("intermediate_size"),
                      max_positions("max_position_embeddings"),
                      norm_eps("rms_norm_eps"),
                      hidden_act("hidden_act"),
                      tie(false),
                      token("bos_token_id", &MC::bos_token_id),
                      token("eos_token_id", &MC::eos_token_id),
                      torch_dtype(),
                      rope_theta("rope_theta"),
                      partial_rotary("partial_rotary_factor", true)};
  k.insert(k.end(), extra.begin(), extra.end());
  return k;
}

std::vector<K> gemma2_keys() {
  // Gemma2MLP reads hidden_activation only (hub configs carry an equal hidden_act beside it).
  K act{"hidden_activation", {"hidden_activation"}, &MC::hidden_act, S("gelu_pytorch_tanh")};
  K scalar{"query_pre_attn_scalar", {"query_pre_attn_scalar"}, &MC::query_pre_attn_scalar, 256.0};
  scalar.positive = scalar.whole = true;
  // null: no soft-capping (left out: Gemma2Config's default)
  K attn_cap{"attn_logit_softcapping", {"attn_logit_softcapping"}, &MC::attn_logit_softcapping, 50.0};
  K final_cap{"final_logit_softcapping", {"final_logit_softcapping"}, &MC::final_logit_softcapping, 30.0};
  attn_cap.nullable = final_cap.nullable = attn_cap.positive = final_cap.positive = true;
  K pad = token("pad_token_id", &MC::pad_token_id);  // the embedding's padding_idx; null: none
  pad.fallback = int64_t{0};
  pad.nullable = true;
  return {vocab(),
          hidden("hidden_size"),
          layers("num_hidden_layers"),
          heads("num_attention_heads"),
          kv_heads("num_key_value_heads"),
          head_dim("head_dim", [](const MC&) { return int64_t{256}; }),
          intermediate("intermediate_size"),
          max_positions("max_position_embeddings", 8192),
          norm_eps("rms_norm_eps", 1e-6),
          act,
          tie(true),
          attention_bias(false),
          scalar,
          attn_cap,
          final_cap,
          pad,
          token("bos_token_id", &MC::bos_token_id),
          token("eos_token_id", &MC::eos_token_id),
          torch_dtype(),
          rope_theta("rope_theta"),
          partial_rotary("partial_rotary_factor", true)};
}

}  // namespace

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"gpt_neox", "GPTNeoXForCausalLM", make_gpt_neox, gpt_neox_keys()},
      {"gpt2", "GPT2LMHeadModel", make_gpt2, gpt2_keys()},
      {"llama", "LlamaForCausalLM", make_llama,
       llama_family_keys(head_dim("head_dim"), {attention_bias(false), flag("mlp_bias", &MC::mlp_bias, false)})},
      // Qwen2's q/k/v biases are always on (qwen2.cc): it has no attention_bias key
      {"qwen2", "Qwen2ForCausalLM", make_qwen2, llama_family_keys(head_dim("head_dim", width_per_head, true), {})},
      {"qwen3", "Qwen3ForCausalLM", make_qwen3,
       llama_family_keys(head_dim("head_dim", [](const MC&) { return int64_t{128}; }), {attention_bias(false)})},
      {"mistral", "MistralForCausalLM", make_mistral, llama_family_keys(head_dim("head_dim"), {})},
      {"gemma2", "Gemma2ForCausalLM", make_gemma2, gemma2_keys()},
  };
  return table;
}

const Architecture& find_architecture(const std::string& model_type, const std::string& config_path) {
  std::string supported;
  for (const auto& a : architectures()) {
    if (model_type == a.model_type) return a;
    supported += std::string(supported.empty() ? "" : ", ") + a.architecture + " (" + a.model_type + ")";
  }
  throw ModelError(config_path + ": key 'model_type': unknown architecture '" + model_type + "'; rig supports " +
                   supported);
}

std::unique_ptr<CausalLM> make_causal_lm(const ModelConfig& config, const std::string& config_path) {
  const Architecture& a = find_architecture(config.model_type, config_path);
  if (!config.architecture.empty() && config.architecture != a.architecture)
    throw ModelError(config_path + ": key 'architectures': '" + config.architecture +
                     "' is not a causal LM rig supports for model_type '" + config.model_type +
                     "' (supported: " + a.architecture + ")");
  if (!Activation::supported(config.hidden_act) && !config.hidden_act.empty())
    throw ModelError(config_path + ": key '" + (config.model_type == "gemma2" ? "hidden_activation" : "hidden_act") +
                     "': unsupported activation '" + config.hidden_act + "'");
  return a.make(config);
}

}  // namespace rig
