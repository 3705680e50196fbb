#include "model/config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_guard.h"
#include "core/limits.h"

namespace rig {
namespace {

using json = nlohmann::json;

// Reads keys of one config.json, trying each of a field's names in turn (4.x and 5.x
// spellings, GPT-2's n_* names), so every error names the file and the key.
class Reader {
 public:
  Reader(const json& j, const std::filesystem::path& path) : j_(j), path_(path) {}

  const json* find(std::initializer_list<const char*> names) const {
    for (const char* n : names)
      if (j_.contains(n) && !j_[n].is_null()) return &j_[n];
    return nullptr;
  }

  int64_t integer(std::initializer_list<const char*> names) const {
    const json* v = find(names);
    if (!v) fail(*names.begin(), "missing required key");
    if (!v->is_number_integer() || v->get<int64_t>() <= 0)
      fail(*names.begin(), "expected a positive integer, got " + v->dump());
    return v->get<int64_t>();
  }
  int64_t integer_or(std::initializer_list<const char*> names, int64_t fallback) const {
    return find(names) ? integer(names) : fallback;
  }
  double number_or(std::initializer_list<const char*> names, double fallback) const {
    const json* v = find(names);
    if (!v) return fallback;
    if (!v->is_number()) fail(*names.begin(), "expected a number, got " + v->dump());
    return v->get<double>();
  }
  bool boolean_or(std::initializer_list<const char*> names, bool fallback) const {
    const json* v = find(names);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(*names.begin(), "expected true or false, got " + v->dump());
    return v->get<bool>();
  }
  std::string string_or(std::initializer_list<const char*> names, const std::string& fallback) const {
    const json* v = find(names);
    if (!v) return fallback;
    if (!v->is_string()) fail(*names.begin(), "expected a string, got " + v->dump());
    return v->get<std::string>();
  }
  // A key written as null (Gemma 2's "no soft-capping") rather than left out (the default).
  bool is_null(const char* name) const { return j_.contains(name) && j_[name].is_null(); }
  std::optional<double> positive_or(const char* name, std::optional<double> fallback) const {
    if (is_null(name)) return std::nullopt;
    const json* v = find({name});
    if (!v) return fallback;
    if (!v->is_number() || v->get<double>() <= 0) fail(name, "expected a positive number or null, got " + v->dump());
    return v->get<double>();
  }
  std::optional<int64_t> token_id(const char* name) const {
    const json* v = find({name});
    if (!v) return std::nullopt;
    if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) return (*v)[0].get<int64_t>();
    if (!v->is_number_integer()) fail(name, "expected a token id, got " + v->dump());
    return v->get<int64_t>();
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ModelError(path_.string() + ": key '" + key + "': " + what);
  }

 private:
  const json& j_;
  const std::filesystem::path& path_;
};

// The rotary scaling type and its parameters, from rope_parameters (5.x) or rope_scaling
// (4.x), with the defaults transformers' rope init functions take.
void read_rope_scaling(const Reader& r, const json& d, const std::string& where, ModelConfig& c) {
  ModelConfig::RopeScaling& s = c.rope_scaling;
  auto key = [&](const char* k) { return where + "." + k; };
  auto number = [&](const char* k) -> std::optional<double> {
    if (!d.contains(k) || d[k].is_null()) return std::nullopt;
    if (!d[k].is_number()) r.fail(key(k), "expected a number, got " + d[k].dump());
    return d[k].get<double>();
  };
  auto required = [&](const char* k) {
    const auto v = number(k);
    if (!v) r.fail(key(k), "missing required key for rope type '" + s.type + "'");
    return *v;
  };
  const char* type_key = d.contains("rope_type") ? "rope_type" : "type";
  if (d.contains(type_key) && !d[type_key].is_string())
    r.fail(key(type_key), "expected a string, got " + d[type_key].dump());
  s.type = d.value(type_key, std::string("default"));
  const char* kTypes[] = {"default", "linear", "dynamic", "llama3", "yarn"};
  if (std::find(std::begin(kTypes), std::end(kTypes), s.type) == std::end(kTypes))
    r.fail(key(type_key), "rig supports rope types default, linear, dynamic, llama3 and yarn, got '" + s.type + "'");
  if (s.type == "default") return;
  s.factor = s.type == "yarn" ? number("factor") : std::optional<double>(required("factor"));
  if (s.type == "llama3") {
    s.low_freq_factor = required("low_freq_factor");
    s.high_freq_factor = required("high_freq_factor");
  }
  // transformers' standardize_rope_params: a top-level original_max_position_embeddings wins.
  s.original_max_positions = r.integer_or({"original_max_position_embeddings"}, 0);
  if (!s.original_max_positions) s.original_max_positions = int64_t(number("original_max_position_embeddings").value_or(0));
  if (!s.original_max_positions) s.original_max_positions = c.max_positions;
  if (s.type == "yarn") {
    s.attention_factor = number("attention_factor");
    s.mscale = number("mscale");
    s.mscale_all_dim = number("mscale_all_dim");
    // `or` in transformers: 0 and null both mean the default
    s.beta_fast = number("beta_fast").value_or(0) ? *number("beta_fast") : 32.0;
    s.beta_slow = number("beta_slow").value_or(0) ? *number("beta_slow") : 1.0;
    if (d.contains("truncate") && d["truncate"].is_boolean()) s.truncate = d["truncate"].get<bool>();
  }
}

// Which layers attend through a window, as transformers' configs decide it: Mistral's
// sliding_window applies to every layer; Qwen2/3 use it only with use_sliding_window, in the
// layers from max_window_layers on; Gemma 2's (default 4096) in layers 0, 2, 4, ...; in each,
// unless layer_types lists each layer. Others ignore it.
void read_sliding_window(const Reader& r, ModelConfig& c) {
  c.sliding_layers.assign(size_t(c.num_layers), false);
  const bool qwen = c.model_type == "qwen2" || c.model_type == "qwen3";
  const bool gemma2 = c.model_type == "gemma2";
  if (c.model_type != "mistral" && !qwen && !gemma2) return;
  c.sliding_window = r.integer_or({"sliding_window"}, gemma2 && !r.is_null("sliding_window") ? 4096 : 0);
  if (qwen && !r.boolean_or({"use_sliding_window"}, false)) c.sliding_window = 0;
  if (c.sliding_window == 0) return;
  if (const json* lt = r.find({"layer_types"})) {
    if (!lt->is_array() || int64_t(lt->size()) != c.num_layers)
      r.fail("layer_types", "expected " + std::to_string(c.num_layers) + " layer types, got " + lt->dump());
    for (size_t i = 0; i < lt->size(); ++i) {
      const json& t = (*lt)[i];
      if (t != "sliding_attention" && t != "full_attention")
        r.fail("layer_types", "rig supports 'full_attention' and 'sliding_attention', got " + t.dump());
      c.sliding_layers[i] = t == "sliding_attention";
    }
    return;
  }
  if (gemma2) {  // Gemma2Config (5.x) and Gemma2DecoderLayer (4.x): even layers slide
    for (int64_t i = 0; i < c.num_layers; i += 2) c.sliding_layers[size_t(i)] = true;
    return;
  }
  int64_t first = 0;
  if (qwen) {
    const json* mw = r.find({"max_window_layers"});
    if (mw && (!mw->is_number_integer() || mw->get<int64_t>() < 0))
      r.fail("max_window_layers", "expected a layer count, got " + mw->dump());
    first = mw ? mw->get<int64_t>() : 28;  // transformers' default
  }
  for (int64_t i = first; i < c.num_layers; ++i) c.sliding_layers[size_t(i)] = true;
}

}  // namespace

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
  const std::string text = read_text_file(path.string(), "a model's config.json", kExitModel);
  if (auto deep = json_depth_error(text, limits::kJsonDepth)) throw ModelError(path.string() + ": " + *deep);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(path.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw ModelError(path.string() + ": expected a JSON object");
  Reader r(j, path);
  ModelConfig c;
  c.model_type = r.string_or({"model_type"}, "");
  if (c.model_type.empty()) r.fail("model_type", "missing required key");
  if (const json* a = r.find({"architectures"}); a && a->is_array() && !a->empty() && (*a)[0].is_string())
    c.architecture = (*a)[0].get<std::string>();
  c.vocab_size = r.integer({"vocab_size"});
  c.hidden_size = r.integer({"hidden_size", "n_embd"});
  c.num_layers = r.integer({"num_hidden_layers", "n_layer"});
  c.num_heads = r.integer({"num_attention_heads", "n_head"});
  c.num_kv_heads = r.integer_or({"num_key_value_heads"}, c.num_heads);
  // Sizes decide allocations (modules are built before weights are read): each is checked
  // against a named limit first (core/limits.h).
  auto at_most = [&](const char* key, int64_t v, int64_t limit) {
    if (v > limit)
      r.fail(key, "expected at most " + std::to_string(limit) + " (rig's limit), got " + std::to_string(v));
  };
  at_most("vocab_size", c.vocab_size, limits::kMaxVocab);
  at_most("hidden_size", c.hidden_size, limits::kMaxHiddenSize);
  at_most("num_hidden_layers", c.num_layers, limits::kMaxLayers);
  at_most("num_attention_heads", c.num_heads, limits::kMaxHeads);
  at_most("num_key_value_heads", c.num_kv_heads, limits::kMaxHeads);
  const bool gemma2 = c.model_type == "gemma2";
  c.head_dim = r.integer_or({"head_dim"}, c.model_type == "qwen3" ? 128 : gemma2 ? 256 : c.hidden_size / c.num_heads);
  at_most("head_dim", c.head_dim, limits::kMaxHiddenSize);
  if (!r.find({"head_dim"}) && c.hidden_size % c.num_heads != 0)
    r.fail("num_attention_heads", "hidden_size " + std::to_string(c.hidden_size) +
                                      " is not divisible by " + std::to_string(c.num_heads) + " heads");
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_key_value_heads", std::to_string(c.num_heads) + " heads are not a multiple of " +
                                      std::to_string(c.num_kv_heads) + " key/value heads");
  c.intermediate_size = r.integer_or({"intermediate_size", "n_inner"}, 4 * c.hidden_size);
  at_most("intermediate_size", c.intermediate_size, limits::kMaxIntermediateSize);
  c.max_positions = r.integer_or({"max_position_embeddings", "n_positions", "n_ctx"}, gemma2 ? 8192 : 2048);
  at_most("max_position_embeddings", c.max_positions, limits::kMaxPositions);
  c.norm_eps = r.number_or({"layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps"}, gemma2 ? 1e-6 : 1e-5);
  // Gemma2MLP reads hidden_activation only (hub configs carry an equal hidden_act beside it).
  c.hidden_act = gemma2 ? r.string_or({"hidden_activation"}, "gelu_pytorch_tanh")
                        : r.string_or({"hidden_act", "activation_function"}, "");
  const double default_pdrop = c.model_type == "gpt2" ? 0.1 : 0.0;
  c.embd_pdrop = r.number_or({"embd_pdrop", "hidden_dropout"}, default_pdrop);
  c.attn_pdrop = r.number_or({"attn_pdrop", "attention_dropout"}, default_pdrop);
  c.resid_pdrop = r.number_or({"resid_pdrop", "hidden_dropout"}, default_pdrop);
  c.use_parallel_residual = r.boolean_or({"use_parallel_residual"}, true);
  c.tie_word_embeddings = r.boolean_or({"tie_word_embeddings"}, c.model_type == "gpt2" || gemma2);  // HF defaults
  c.attention_bias = r.boolean_or({"attention_bias"}, c.model_type == "gpt_neox");  // HF defaults
  c.scale_attn_weights = r.boolean_or({"scale_attn_weights"}, true);
  c.scale_attn_by_inverse_layer_idx = r.boolean_or({"scale_attn_by_inverse_layer_idx"}, false);
  c.mlp_bias = r.boolean_or({"mlp_bias"}, false);
  c.bos_token_id = r.token_id("bos_token_id");
  c.eos_token_id = r.token_id("eos_token_id");
  for (auto [key, id] : {std::pair{"bos_token_id", c.bos_token_id}, std::pair{"eos_token_id", c.eos_token_id}})
    if (id && (*id < 0 || *id >= c.vocab_size))
      r.fail(key, "expected a token id below vocab_size " + std::to_string(c.vocab_size) + ", got " + std::to_string(*id));
  c.torch_dtype = r.string_or({"torch_dtype", "dtype"}, "");
  if (gemma2) {  // Gemma2Config's defaults where a key is left out; null: no soft-capping
    c.query_pre_attn_scalar = r.positive_or("query_pre_attn_scalar", 256.0).value_or(0);
    if (c.query_pre_attn_scalar == 0) r.fail("query_pre_attn_scalar", "expected a positive number, got null");
    c.attn_logit_softcapping = r.positive_or("attn_logit_softcapping", 50.0);
    c.final_logit_softcapping = r.positive_or("final_logit_softcapping", 30.0);
    c.pad_token_id = r.is_null("pad_token_id") ? std::nullopt : std::optional<int64_t>(r.token_id("pad_token_id").value_or(0));
  }
  read_sliding_window(r, c);

  // Rotary settings: 5.x nests them in rope_parameters; 4.x keeps them at top level.
  c.rope_theta = r.number_or({"rope_theta", "rotary_emb_base"}, 10000.0);
  c.partial_rotary_factor = r.number_or({"partial_rotary_factor", "rotary_pct"}, 1.0);
  if (const json* rp = r.find({"rope_parameters"})) {
    if (!rp->is_object()) r.fail("rope_parameters", "expected an object, got " + rp->dump());
    Reader rr(*rp, path);
    c.rope_theta = rr.number_or({"rope_theta"}, c.rope_theta);
    c.partial_rotary_factor = rr.number_or({"partial_rotary_factor"}, c.partial_rotary_factor);
    read_rope_scaling(r, *rp, "rope_parameters", c);
  } else if (const json* rs = r.find({"rope_scaling"}); rs && !(rs->is_object() && rs->empty())) {
    if (!rs->is_object()) r.fail("rope_scaling", "expected an object, got " + rs->dump());
    read_rope_scaling(r, *rs, "rope_scaling", c);
  }
  if (c.partial_rotary_factor <= 0 || c.partial_rotary_factor > 1)
    r.fail("rotary_pct", "expected a fraction in (0, 1], got " + std::to_string(c.partial_rotary_factor));
  return c;
}

int64_t ModelConfig::position_limit() const {
  return rope_scaling.type == "dynamic" ? limits::kMaxPositions : max_positions;
}

std::string ModelConfig::position_limit_source(const std::string& config_json) const {
  return rope_scaling.type == "dynamic" ? "rig's limit with dynamic rope scaling, core/limits.h"
                                        : config_json + " max_position_embeddings";
}

}  // namespace rig
