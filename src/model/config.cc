#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "core/json_guard.h"
#include "core/limits.h"
#include "model/architectures/architectures.h"

namespace rig {
namespace {

using json = nlohmann::json;

// Reads keys of one config.json, trying each of a field's names in turn (4.x and 5.x
// spellings, GPT-2's n_* names), so every error names the file and the key.
class Reader {
 public:
  Reader(const json& j, const std::filesystem::path& path) : j_(j), path_(path) {}

  const json* find(const std::vector<const char*>& names) const {
    for (const char* n : names)
      if (j_.contains(n) && !j_[n].is_null()) return &j_[n];
    return nullptr;
  }

  int64_t integer(const std::vector<const char*>& names) const {
    const json* v = find(names);
    if (!v) fail(*names.begin(), "missing required key");
    if (!v->is_number_integer() || v->get<int64_t>() <= 0)
      fail(*names.begin(), "expected a positive integer, got " + v->dump());
    return v->get<int64_t>();
  }
  int64_t integer_or(const std::vector<const char*>& names, int64_t fallback) const {
    return find(names) ? integer(names) : fallback;
  }
  double number_or(const std::vector<const char*>& names, double fallback) const {
    const json* v = find(names);
    if (!v) return fallback;
    if (!v->is_number()) fail(*names.begin(), "expected a number, got " + v->dump());
    return v->get<double>();
  }
  bool boolean_or(const std::vector<const char*>& names, bool fallback) const {
    const json* v = find(names);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(*names.begin(), "expected true or false, got " + v->dump());
    return v->get<bool>();
  }
  std::string string_or(const std::vector<const char*>& names, const std::string& fallback) const {
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
  if (!s.original_max_positions)
    s.original_max_positions = int64_t(number("original_max_position_embeddings").value_or(0));
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

// One row of the architecture's keys into c, with the checks the row asks for.
void read_key(const Reader& r, const ConfigKey& k, ModelConfig& c) {
  const char* key = k.read.front();
  std::visit(
      [&](auto member) {
        auto& field = c.*member;
        using T = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (std::holds_alternative<std::monostate>(k.fallback)) field = r.integer(k.read);
          else if (auto* d = std::get_if<ConfigKey::Derived>(&k.fallback)) field = r.integer_or(k.read, (*d)(c));
          else field = r.integer_or(k.read, std::get<int64_t>(k.fallback));
          // Sizes decide allocations (modules are built before weights are read): each is
          // checked against a named limit first (core/limits.h).
          if (k.limit && field > k.limit)
            r.fail(key, "expected at most " + std::to_string(k.limit) + " (rig's limit), got " + std::to_string(field));
        } else if constexpr (std::is_same_v<T, double>) {
          if (!k.positive) {
            field = r.number_or(k.read, std::get<double>(k.fallback));
          } else {
            const auto v = r.positive_or(key, std::get<double>(k.fallback));
            if (!v) r.fail(key, "expected a positive number, got null");
            field = *v;
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          field = r.boolean_or(k.read, std::get<bool>(k.fallback));
        } else if constexpr (std::is_same_v<T, std::string>) {
          field = r.string_or(k.read, std::get<std::string>(k.fallback));
        } else if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
          const int64_t* d = std::get_if<int64_t>(&k.fallback);
          const bool none = k.nullable && r.is_null(key);
          field = none ? std::nullopt : r.token_id(key);
          if (!field && !none && d) field = *d;
          if (!k.nullable && field && (*field < 0 || *field >= c.vocab_size))
            r.fail(key, "expected a token id below vocab_size " + std::to_string(c.vocab_size) + ", got " +
                            std::to_string(*field));
        } else {  // std::optional<double>: positive, or null (none)
          const double* d = std::get_if<double>(&k.fallback);
          field = r.positive_or(key, d ? std::optional<double>(*d) : std::nullopt);
        }
      },
      k.member);
}

// One row of the architecture's keys from c, under its written spelling.
void write_key(const ConfigKey& k, const ModelConfig& c, json& j) {
  if (!k.name) return;  // read only (another spelling, or a key transformers' class lacks)
  std::visit(
      [&](auto member) {
        const auto& field = c.*member;
        using T = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<T, std::optional<int64_t>> || std::is_same_v<T, std::optional<double>>) {
          if (field) j[k.name] = *field;
          else if (k.nullable) j[k.name] = nullptr;
        } else {
          const T* d = std::get_if<T>(&k.fallback);
          if (k.omit_default && d && *d == field) return;
          if constexpr (std::is_same_v<T, int64_t>) {
            const auto* derived = std::get_if<ConfigKey::Derived>(&k.fallback);
            if (k.omit_default && derived && (*derived)(c) == field) return;
          }
          if constexpr (std::is_same_v<T, double>) {
            if (k.whole && field == std::floor(field)) {
              j[k.name] = int64_t(field);
              return;
            }
          }
          j[k.name] = field;
        }
      },
      k.member);
}

// rope_scaling (4.x; from_file reads rope_parameters too) with what read_rope_scaling reads,
// leaving out what it derives (original_max_position_embeddings = max_position_embeddings).
void write_rope_scaling(const ModelConfig& c, json& j) {
  const ModelConfig::RopeScaling& s = c.rope_scaling;
  if (s.type == "default") return;
  json d = {{"rope_type", s.type}};
  if (s.factor) d["factor"] = *s.factor;
  if (s.type == "llama3") {
    d["low_freq_factor"] = s.low_freq_factor;
    d["high_freq_factor"] = s.high_freq_factor;
  }
  if (s.type == "llama3" || s.original_max_positions != c.max_positions)
    d["original_max_position_embeddings"] = s.original_max_positions;
  if (s.type == "yarn") {
    if (s.attention_factor) d["attention_factor"] = *s.attention_factor;
    if (s.mscale) d["mscale"] = *s.mscale;
    if (s.mscale_all_dim) d["mscale_all_dim"] = *s.mscale_all_dim;
    d["beta_fast"] = s.beta_fast;
    d["beta_slow"] = s.beta_slow;
    d["truncate"] = s.truncate;
  }
  j["rope_scaling"] = d;
}

// The keys read_sliding_window reads: the window (null: none) and, where it applies, which
// layers slide (layer_types, which Qwen2/3 and Gemma 2 take over max_window_layers and the
// alternation; Mistral's layers all slide unless layer_types says otherwise).
void write_sliding_window(const ModelConfig& c, json& j) {
  const bool qwen = c.model_type == "qwen2" || c.model_type == "qwen3";
  if (c.model_type != "mistral" && !qwen && c.model_type != "gemma2") return;
  j["sliding_window"] = c.sliding_window ? json(c.sliding_window) : json(nullptr);
  if (qwen) j["use_sliding_window"] = c.sliding_window > 0;
  if (c.sliding_window == 0) return;
  const auto first = std::find(c.sliding_layers.begin(), c.sliding_layers.end(), true);
  if (qwen) j["max_window_layers"] = first - c.sliding_layers.begin();
  const bool all = std::find(c.sliding_layers.begin(), c.sliding_layers.end(), false) == c.sliding_layers.end();
  if (c.model_type == "mistral" && all) return;
  json types = json::array();
  for (bool sliding : c.sliding_layers) types.push_back(sliding ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
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
  for (const ConfigKey& k : find_architecture(c.model_type, path.string()).keys) read_key(r, k, c);
  if (!r.find({"head_dim"}) && c.hidden_size % c.num_heads != 0)
    r.fail("num_attention_heads", "hidden_size " + std::to_string(c.hidden_size) + " is not divisible by " +
                                      std::to_string(c.num_heads) + " heads");
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_key_value_heads", std::to_string(c.num_heads) + " heads are not a multiple of " +
                                      std::to_string(c.num_kv_heads) + " key/value heads");
  read_sliding_window(r, c);

  // Rotary settings: 5.x nests them in rope_parameters; 4.x keeps them at top level (keys).
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

json ModelConfig::to_json() const {
  const ModelConfig& c = *this;
  json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["initializer_range"] = 0.02;
  j["transformers_version"] = "4.40.0";
  j["use_cache"] = true;
  for (const ConfigKey& k : find_architecture(c.model_type, "config.json").keys) write_key(k, c, j);
  write_rope_scaling(c, j);
  write_sliding_window(c, j);
  return j;
}

int64_t ModelConfig::position_limit() const {
  return rope_scaling.type == "dynamic" ? limits::kMaxPositions : max_positions;
}

std::string ModelConfig::position_limit_source(const std::string& config_json) const {
  return rope_scaling.type == "dynamic" ? "rig's limit with dynamic rope scaling, core/limits.h"
                                        : config_json + " max_position_embeddings";
}

}  // namespace rig
