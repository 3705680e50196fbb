#include "model/config.h"

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
  c.head_dim = r.integer_or({"head_dim"}, c.hidden_size / c.num_heads);
  at_most("head_dim", c.head_dim, limits::kMaxHiddenSize);
  if (!r.find({"head_dim"}) && c.hidden_size % c.num_heads != 0)
    r.fail("num_attention_heads", "hidden_size " + std::to_string(c.hidden_size) +
                                      " is not divisible by " + std::to_string(c.num_heads) + " heads");
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_key_value_heads", std::to_string(c.num_heads) + " heads are not a multiple of " +
                                      std::to_string(c.num_kv_heads) + " key/value heads");
  c.intermediate_size = r.integer_or({"intermediate_size", "n_inner"}, 4 * c.hidden_size);
  at_most("intermediate_size", c.intermediate_size, limits::kMaxIntermediateSize);
  c.max_positions = r.integer_or({"max_position_embeddings", "n_positions", "n_ctx"}, 2048);
  at_most("max_position_embeddings", c.max_positions, limits::kMaxPositions);
  c.norm_eps = r.number_or({"layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps"}, 1e-5);
  c.hidden_act = r.string_or({"hidden_act", "activation_function"}, "");
  const double default_pdrop = c.model_type == "gpt2" ? 0.1 : 0.0;
  c.embd_pdrop = r.number_or({"embd_pdrop", "hidden_dropout"}, default_pdrop);
  c.attn_pdrop = r.number_or({"attn_pdrop", "attention_dropout"}, default_pdrop);
  c.resid_pdrop = r.number_or({"resid_pdrop", "hidden_dropout"}, default_pdrop);
  c.use_parallel_residual = r.boolean_or({"use_parallel_residual"}, true);
  c.tie_word_embeddings = r.boolean_or({"tie_word_embeddings"}, c.model_type == "gpt2");  // HF defaults
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

  // Rotary settings: 5.x nests them in rope_parameters; 4.x keeps them at top level.
  c.rope_theta = r.number_or({"rope_theta", "rotary_emb_base"}, 10000.0);
  c.partial_rotary_factor = r.number_or({"partial_rotary_factor", "rotary_pct"}, 1.0);
  if (const json* rp = r.find({"rope_parameters"})) {
    if (!rp->is_object()) r.fail("rope_parameters", "expected an object, got " + rp->dump());
    Reader rr(*rp, path);
    c.rope_theta = rr.number_or({"rope_theta"}, c.rope_theta);
    c.partial_rotary_factor = rr.number_or({"partial_rotary_factor"}, c.partial_rotary_factor);
    const std::string type = rr.string_or({"rope_type"}, "default");
    if (type != "default") r.fail("rope_parameters.rope_type", "rig supports rope_type 'default', got '" + type + "'");
  }
  if (const json* rs = r.find({"rope_scaling"}); rs && !rs->empty())
    r.fail("rope_scaling", "rope scaling is not supported yet, got " + rs->dump());
  if (c.partial_rotary_factor <= 0 || c.partial_rotary_factor > 1)
    r.fail("rotary_pct", "expected a fraction in (0, 1], got " + std::to_string(c.partial_rotary_factor));
  return c;
}

}  // namespace rig
