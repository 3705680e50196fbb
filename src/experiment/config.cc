// Decoding, checking and printing of experiment configs.
//
// Each config struct lists its fields once, in a `fields(V&, S&)` function below. The same
// list drives decoding and checking (schema.h's Decoder: types, ranges, unknown and duplicate
// keys, required keys) and printing (Printer: resolved_yaml, config_hash, config_attributes),
// so a new key is one line here plus its entry in docs/CONFIG.md.
#include "experiment/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <functional>
#include <limits>
#include <set>
#include <type_traits>

#include "core/error.h"
#include "core/events.h"
#include "core/limits.h"
#include "experiment/schema.h"
#include "experiment/yaml_util.h"

namespace rig {
namespace cfg {

// ---------------------------------------------------------------------------------------
// Codecs for the fields with their own shapes.

static Codec<std::vector<std::string>> prompt_list() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            std::vector<std::string> out;
            // An empty prompt is a stimulus where the tokenizer adds BOS (llama2.c's stories
            // start from BOS alone); the runner rejects prompts that encode to no tokens.
            if (n.IsScalar()) return std::vector<std::string>{n.Scalar()};
            if (!n.IsSequence() || n.size() == 0)
              fail(d.source(), n, p, "expected a non-empty sequence of prompts, got " + describe(n));
            for (size_t i = 0; i < n.size(); ++i) {
              if (!n[i].IsScalar())
                fail(d.source(), n[i], child(p, std::to_string(i)), "expected a string, got " + describe(n[i]));
              out.push_back(n[i].Scalar());
            }
            return out;
          },
          [](const std::vector<std::string>& v) {
            YAML::Node n;
            for (const auto& s : v) n.push_back(s);
            return n;
          }};
}

// Names of `stimulation:` entries: one name or a non-empty list.
static Codec<std::vector<std::string>> name_list() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            static const SafeRegex name("[A-Za-z0-9_.-]+");
            std::vector<std::string> out;
            auto one = [&](const YAML::Node& e, const KeyPath& ep) {
              if (!e.IsScalar() || !name.full_match(e.Scalar()))
                fail(d.source(), e, ep, "expected the name of a stimulation: entry, got " + describe(e));
              out.push_back(e.Scalar());
            };
            if (n.IsScalar()) {
              one(n, p);
            } else if (n.IsSequence() && n.size() > 0) {
              for (size_t i = 0; i < n.size(); ++i) one(n[i], child(p, std::to_string(i)));
            } else {
              fail(d.source(), n, p, "expected a non-empty sequence of stimulation names, got " + describe(n));
            }
            return out;
          },
          [](const std::vector<std::string>& v) {
            YAML::Node n;
            for (const auto& s : v) n.push_back(s);
            return n;
          }};
}

using Vars = std::vector<std::pair<std::string, std::vector<std::string>>>;
static Codec<Vars> var_table() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            if (!n.IsMap() || n.size() == 0)
              fail(d.source(), n, p, "expected a mapping of variable names to value lists, got " + describe(n));
            Vars out;
            static const SafeRegex ident("[A-Za-z_][A-Za-z0-9_]*");
            for (const auto& kv : n) {
              if (!kv.first.IsScalar())
                fail(d.source(), kv.first, p, "expected variable names, got " + describe(kv.first));
              const std::string& name = kv.first.Scalar();
              KeyPath vp = child(p, name);
              if (!ident.full_match(name))
                fail(d.source(), kv.first, vp, "expected an identifier, got " + describe(kv.first));
              if (name == "index" || name == "condition" || name == "prompt")
                fail(d.source(), kv.first, vp, "'" + name + "' is a built-in stimulus column; rename the variable");
              for (const auto& prev : out)
                if (prev.first == name) fail(d.source(), kv.first, vp, "duplicate variable");
              std::vector<std::string> values;
              const YAML::Node& v = kv.second;
              if (v.IsScalar()) {
                values.push_back(v.Scalar());
              } else if (v.IsSequence() && v.size() > 0) {
                for (size_t i = 0; i < v.size(); ++i) {
                  if (!v[i].IsScalar())
                    fail(d.source(), v[i], child(vp, std::to_string(i)), "expected a string, got " + describe(v[i]));
                  values.push_back(v[i].Scalar());
                }
              } else {
                fail(d.source(), v, vp, "expected a non-empty sequence of values, got " + describe(v));
              }
              out.emplace_back(name, std::move(values));
            }
            return out;
          },
          [](const Vars& v) {
            YAML::Node n;
            for (const auto& [name, values] : v) {
              YAML::Node seq(YAML::NodeType::Sequence);
              for (const auto& s : values) seq.push_back(s);
              n[name] = seq;
            }
            return n;
          }};
}

using Ranges = std::vector<std::pair<int64_t, int64_t>>;
static Codec<Ranges> neuron_list() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            const std::string expect =
                "a neuron index >= 0 or a range \"a:b\" (half-open, a < b; either end may be omitted)";
            auto one = [&](const YAML::Node& e, const KeyPath& ep) -> std::pair<int64_t, int64_t> {
              if (!e.IsScalar()) fail(d.source(), e, ep, "expected " + expect + ", got " + describe(e));
              const std::string& s = e.Scalar();
              int64_t a = 0, b = -1;
              size_t colon = s.find(':');
              if (colon == std::string::npos) {
                if (parse_int(s, a) && a >= 0) return {a, a + 1};
              } else {
                std::string sa = s.substr(0, colon), sb = s.substr(colon + 1);
                bool ok = (sa.empty() || (parse_int(sa, a) && a >= 0)) && (sb.empty() || (parse_int(sb, b) && b > a));
                if (ok) return {a, b};
              }
              fail(d.source(), e, ep, "expected " + expect + ", got " + describe(e));
            };
            Ranges out;
            if (n.IsScalar()) {
              out.push_back(one(n, p));
            } else if (n.IsSequence() && n.size() > 0) {
              for (size_t i = 0; i < n.size(); ++i) out.push_back(one(n[i], child(p, std::to_string(i))));
            } else {
              fail(d.source(), n, p,
                   "expected a non-empty sequence of neuron indices or \"a:b\" ranges, got " + describe(n));
            }
            return out;
          },
          [](const Ranges& v) {
            YAML::Node n;
            for (const auto& [a, b] : v) {
              if (b == a + 1) n.push_back(a);
              else n.push_back(std::to_string(a) + ":" + (b < 0 ? "" : std::to_string(b)));
            }
            return n;
          }};
}

static Codec<int> compression_codec() {
  return {
      [](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
        if (n.IsScalar()) {
          const std::string& s = n.Scalar();
          if (s == "none") return 0;
          int64_t level = 0;
          if (s.rfind("gzip:", 0) == 0 && parse_int(s.substr(5), level) && level >= 1 && level <= 9) return int(level);
        }
        fail(d.source(), n, p, "expected none or gzip:1..9, got " + describe(n));
      },
      [](const int& level) { return YAML::Node(level == 0 ? std::string("none") : "gzip:" + std::to_string(level)); }};
}

// ---------------------------------------------------------------------------------------
// The field lists: the one place each key is named.

template <class V>
void fields(V& v, ModelSpec& m) {
  v("id", m.id, text());
  v.origin_of("id", m.id_origin);
  v("revision", m.revision, text());
  v("cache_dir", m.cache_dir, text(), kNoHash);
  v("path", m.path, text());
  v("download", m.download, kNoHash);
  v("dtype", m.dtype, one_of({"float32", "float16", "bfloat16"}));
  v("device", m.device, matching("cpu|cuda|cuda:[0-9]+", "cpu | cuda | cuda:N"), kNoHash);
  v.validate([&](Decoder& d) {
    namespace fs = std::filesystem;
    if (d.has("id") == d.has("path"))
      d.fail_here(std::string("expected exactly one of 'id' (hub id) or 'path' (local directory), got ") +
                  (d.has("id") ? "both" : "neither"));
    if (d.has("path")) {
      for (const char* k : {"revision", "cache_dir", "download"})
        if (d.has(k)) d.fail_at(k, "only applies with model.id, not model.path");
      m.revision.clear();
      if (!fs::is_directory(m.path))
        d.fail_at("path", "expected a model directory, got '" + m.path + "', which " +
                              (fs::exists(m.path) ? "is not a directory" : "does not exist") +
                              " (relative to the working directory " + fs::current_path().string() + ")");
    }
    // A missing cache_dir is reported when the model is resolved, with how to download it.
  });
}

template <class V>
void fields(V& v, StimulusSet& s) {
  v.origin(s.origin);
  v("condition", s.condition, matching("[^\\n\\r]+", "a non-empty single-line string"), kRequired);
  v("prompts", s.prompts, prompt_list());
  v("file", s.file, text());
  v("template", s.template_, text());
  v("vars", s.vars, var_table());
  v("stimulation", s.stimulation, name_list());
  v.origin_of("stimulation", s.stimulation_origin);
  v.validate([&](Decoder& d) {
    std::vector<std::string> given;
    for (const char* k : {"prompts", "file", "template"})
      if (d.has(k)) given.push_back(std::string("'") + k + "'");
    if (given.size() != 1)
      d.fail_here("expected exactly one of 'prompts', 'file' or 'template', got " +
                  (given.empty() ? std::string("none") : given[0] + " and " + given[1]));
    if (d.has("vars") && !d.has("template")) d.fail_at("vars", "only applies with 'template'");
  });
}

template <class V>
void fields(V& v, ElectrodeSelector& e) {
  v.origin_of("site", e.origin);
  v("site", e.site, text(), kRequired);
  v("side", e.side, EnumRule<Side>{{{"output", Side::kOutput}, {"input", Side::kInput}}});
  v("neurons", e.neurons, neuron_list());
  v.origin_of("neurons", e.neurons_origin);
  v("sae", e.sae, text());
  v.origin_of("sae", e.sae_origin);
  v.validate([&](Decoder& d) {
    e.side_given = d.has("side");
    if (d.has("sae")) {
      if (!std::filesystem::exists(std::filesystem::path(e.sae) / "cfg.json"))
        d.fail_at("sae",
                  "expected a directory holding an SAE in SAELens's format (cfg.json and "
                  "sae_weights.safetensors), got '" +
                      e.sae + "', which has no cfg.json");
      if (d.has("neurons"))
        d.fail_at("neurons",
                  "does not apply with 'sae' (an SAE electrode records all of its latents, stored "
                  "compressed; a stimulation picks them with 'latents')");
    }
    const std::string& s = e.site;
    if (s.size() >= 2 && s.front() == '/' && s.back() == '/') {
      e.match = SiteMatch::kRegex;
      try {
        SafeRegex(s.substr(1, s.size() - 2));
      } catch (const std::invalid_argument& err) {
        d.fail_at("site",
                  "expected a valid regex (PCRE2) between slashes, got " + describe(d.get("site")) + ": " + err.what());
      }
    } else if (s.find_first_of("*?") != std::string::npos) {
      e.match = SiteMatch::kGlob;
    } else {
      e.match = SiteMatch::kExact;
    }
  });
}

template void fields<Decoder>(Decoder&, ElectrodeSelector&);  // for stimulation: entries

template <class V>
void fields(V& v, GenerateConfig& g) {
  v("max_new_tokens", g.max_new_tokens, int_at_least(0));
  v("greedy", g.greedy);
  v("temperature", g.temperature, num_at_least(0));
  v("top_k", g.top_k, int_at_least(0));
  v("top_p", g.top_p, num_between(0, 1));
  v("stop_at_eos", g.stop_at_eos);
  v.validate([&](Decoder& d) {
    if (!g.greedy && !(g.temperature > 0))
      d.fail_at("temperature", "expected a number > 0 when greedy is false, got " +
                                   (d.has("temperature") ? describe(d.get("temperature"))
                                                         : format_double(g.temperature) + " (the default)"));
  });
}

template <class V>
void fields(V& v, TrialsConfig& t) {
  v("repetitions", t.repetitions, int_at_least(1));
  v("order", t.order,
    EnumRule<TrialOrder>{{{"sequential", TrialOrder::kSequential}, {"shuffled", TrialOrder::kShuffled}}});
  v("batch_size", t.batch_size, int_at_least(1));
  v.section("generate", t.generate, "a mapping (trials.generate)");
  v("add_special_tokens", t.add_special_tokens);
}

template <class V>
void fields(V& v, EventSpec& e) {
  v.origin(e.origin);
  v("name", e.name, matching("[A-Za-z_][A-Za-z0-9_]*", "an identifier ([A-Za-z_][A-Za-z0-9_]*)"), kRequired);
  v("token_text", e.token_text, text());
  v("in", e.in,
    EnumRule<EventScope>{
        {{"any", EventScope::kAny}, {"prompt", EventScope::kPrompt}, {"response", EventScope::kResponse}}});
  v.validate([&](Decoder& d) {
    std::vector<std::string> builtins(std::begin(kBuiltinEvents), std::end(kBuiltinEvents));
    e.builtin = is_builtin_event(e.name);
    if (e.builtin && d.has("token_text"))
      d.fail_at("token_text", "'" + e.name + "' is a built-in event and takes no token_text");
    if (!e.builtin && !d.has("token_text")) {
      std::string msg = "expected token_text for event '" + e.name + "' (built-in events: " + kBuiltinEventList + ")";
      if (std::string c = closest(e.name, builtins); !c.empty()) msg += "; did you mean '" + c + "'?";
      d.fail_at("token_text", msg);
    }
    const std::string& t = e.token_text;
    if (t.size() >= 2 && t.front() == '/' && t.back() == '/') {
      try {
        e.regex = std::make_shared<const SafeRegex>(t.substr(1, t.size() - 2));
      } catch (const std::invalid_argument& err) {
        d.fail_at("token_text", "expected a valid regex (PCRE2) between slashes, got " + describe(d.get("token_text")) +
                                    ": " + err.what());
      }
    }
  });
}

template <class V>
void fields(V& v, BinsConfig& b) {
  v("event", b.event, text());  // checked against the events in fields(ExperimentConfig)
  v.origin_of("event", b.event_origin);
  v("pre", b.pre, int_at_least(0));
  v("post", b.post, int_at_least(0));
  v("bin", b.bin, int_at_least(1));
}

template <class V>
void fields(V& v, RecordingConfig& r) {
  v("path", r.path, text(), kNoHash);
  v("dtype", r.dtype, one_of({"float32", "float16"}));
  v("compression", r.compression, compression_codec());
  // Printed (resolved YAML, config_hash) only with store: statistics, so that raw configs
  // keep the hash and resolved text of a rig before statistics (--resume, rig merge).
  if (!std::is_same_v<V, Printer> || r.store != "raw") {
    v("store", r.store, one_of({"raw", "statistics"}));
    v.section("bins", r.bins, "a mapping (recording.bins: event, pre, post, bin)");
  }
  v.validate([&](Decoder& d) {
    if (r.store == "raw" && d.has("bins")) d.fail_at("bins", "only applies with store: statistics");
    if (r.store == "statistics" && r.compression != 0)
      d.fail_at("compression", "applies to store: raw only (statistics are small and written uncompressed)");
  });
}

template <class V>
void fields(V& v, ExperimentConfig& c) {
  v("name", c.name, matching("[A-Za-z0-9_.-]+", "a name of letters, digits, '_', '.' or '-'"), kRequired);
  v("seed", c.seed, int_at_least(0));
  v.section("model", c.model, "a mapping (model)", kRequired);
  v.list("stimuli", c.stimulus_sets, "stimulus sets (mappings with condition and prompts, file or template)",
         kRequired);
  v.list("electrodes", c.electrodes, "electrodes (mappings with site, side, neurons)");
  v.section("trials", c.trials, "a mapping (trials)");
  v.list("events", c.events, "events (mappings with name and token_text)");
  v.section("recording", c.recording, "a mapping (recording)");
  v.raw("stimulation", c.stimulation, YAML::NodeType::Sequence);
  v.raw("analysis", c.analysis, YAML::NodeType::Map);
  v.validate([&](Decoder& d) {
    if (c.stimulus_sets.empty()) d.fail_at("stimuli", "expected at least one stimulus set, got an empty sequence");
    std::map<std::string, size_t> names;
    for (size_t i = 0; i < c.events.size(); ++i) {
      auto [it, fresh] = names.emplace(c.events[i].name, i);
      if (!fresh)
        throw ConfigError(c.events[i].origin.error("duplicate event name '" + c.events[i].name + "' (also events." +
                                                   std::to_string(it->second) + ")"));
    }
    if (c.recording.store == "statistics" && !is_builtin_event(c.recording.bins.event) &&
        !names.count(c.recording.bins.event))
      throw ConfigError(
          c.recording.bins.event_origin.error("expected a built-in event (" + std::string(kBuiltinEventList) +
                                              ") or one of the config's events, got '" + c.recording.bins.event + "'"));
    if (c.recording.path.empty()) c.recording.path = "data/recordings/" + c.name + ".h5";
  });
}

// ---------------------------------------------------------------------------------------
// Overrides.

static ConfigOverride parse_override(const std::string& s, std::string& value) {
  ConfigOverride ov;
  ov.text = s;
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + s + ": expected KEY.PATH=VALUE (e.g. trials.repetitions=10)");
  std::string key = s.substr(0, eq);
  value = s.substr(eq + 1);
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string comp = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (comp.empty())
      throw ConfigError("--set " + s + ": expected KEY.PATH=VALUE with non-empty dotted keys, got '" + key + "'");
    ov.path.push_back(comp);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return ov;
}

static void remove_key(YAML::Node node, const std::string& key) {
  const YAML::Node& c = node;
  if (node.IsMap() && c[key].IsDefined()) node.remove(key);
}

static void apply_override_node(YAML::Node& root, const ConfigOverride& ov, const YAML::Node& value);

static void apply_override(YAML::Node& root, const ConfigOverride& ov, const std::string& value_text) {
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + ov.text + ": expected a YAML value, got '" + value_text + "' (" + e.msg + ")");
  }
  apply_override_node(root, ov, value);
}

// Sets the value at ov.path (creating mappings on the way; null removes the key). `value` may
// be a node of the file (a `sweep:` value), which keeps its line:column for messages.
static void apply_override_node(YAML::Node& root, const ConfigOverride& ov, const YAML::Node& value) {
  auto err = [&](const std::string& what) {
    throw ConfigError((ov.sweep_at.empty() ? "--set " + ov.text : ov.sweep_at) + ": " + what);
  };
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  YAML::Node cur;
  cur.reset(root);
  const size_t n = ov.path.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& comp = ov.path[i];
    const bool last = i + 1 == n;
    KeyPath here(ov.path.begin(), ov.path.begin() + i);
    if (cur.IsMap()) {
      if (last) {
        if (value.IsNull()) remove_key(cur, comp);
        else cur[comp] = value;
        break;
      }
      YAML::Node next = cur[comp];
      if (!next.IsDefined() || next.IsNull()) cur[comp] = YAML::Node(YAML::NodeType::Map);
      YAML::Node fresh = cur[comp];
      cur.reset(fresh);
    } else if (cur.IsSequence()) {
      int64_t idx = -1;
      if (!parse_int(comp, idx) || idx < 0 || size_t(idx) > cur.size())
        err("expected an index from 0 to " + std::to_string(cur.size()) + " into " +
            (here.empty() ? std::string("the top level") : join(here)) + ", got '" + comp + "'");
      if (last) {
        if (value.IsNull()) {
          YAML::Node seq(YAML::NodeType::Sequence);
          for (size_t j = 0; j < cur.size(); ++j)
            if (int64_t(j) != idx) seq.push_back(cur[j]);
          cur = seq;  // assigns through to the tree node
        } else if (size_t(idx) == cur.size()) {
          cur.push_back(value);
        } else {
          cur[size_t(idx)] = value;
        }
        break;
      }
      if (size_t(idx) == cur.size()) cur.push_back(YAML::Node(YAML::NodeType::Map));
      YAML::Node fresh = cur[size_t(idx)];
      cur.reset(fresh);
    } else {
      err("expected " + join(here) + " to be a mapping or sequence, got " + describe(cur));
    }
  }
  // A model source given on the command line replaces the file's (path vs id/revision/cache_dir).
  if (n == 2 && ov.path[0] == "model" && !value.IsNull()) {
    YAML::Node model = root["model"];
    if (ov.path[1] == "path") {
      for (const char* k : {"id", "revision", "cache_dir", "download"}) remove_key(model, k);
    } else if (ov.path[1] == "id") {
      remove_key(model, "path");
    }
  }
}

// ---------------------------------------------------------------------------------------

static std::string fnv1a_hex(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

static std::string emit(const YAML::Node& n) {
  YAML::Emitter e;
  e << n;
  return std::string(e.c_str()) + "\n";
}

static void flatten(const YAML::Node& n, const std::string& prefix,
                    std::vector<std::pair<std::string, std::string>>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n)
      flatten(kv.second, prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar(), out);
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) flatten(n[i], prefix + "." + std::to_string(i), out);
  } else if (n.IsScalar()) {
    out.emplace_back(prefix, n.Scalar());
  }
}

}  // namespace cfg

// ---------------------------------------------------------------------------------------
// Public API

std::string ConfigSource::where(const YAML::Node& node, const std::vector<std::string>& key_path) const {
  for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
    const auto& p = it->path;
    if (p.size() <= key_path.size() && std::equal(p.begin(), p.end(), key_path.begin())) {
      if (it->sweep_at.empty())
        return "--set " + it->text + (key_path.size() > p.size() ? ": " + cfg::join(key_path) : "");
      // A sweep value: at the value where it has a position in the file, else at its key.
      YAML::Mark m = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
      if (m.is_null())
        return it->sweep_at + " (" + it->text + ")" + (key_path.size() > p.size() ? ": " + cfg::join(key_path) : "");
      return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + cfg::join(key_path) +
             " (" + it->text + ")";
    }
  }
  std::string s = file;
  YAML::Mark m = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
  if (!m.is_null()) s += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  if (!key_path.empty()) s += ": " + cfg::join(key_path);
  // An override inside the failing key (--set stimuli.0.file=x makes stimuli.0 hold both
  // prompts and file): the file's place alone would not say what changed it.
  for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
    const auto& p = it->path;
    if (it->sweep_at.empty() && p.size() > key_path.size() && std::equal(key_path.begin(), key_path.end(), p.begin()))
      return s + " (with --set " + it->text + ")";
  }
  return s;
}

namespace cfg {

// The YAML text with the --set overrides applied (recorded in src.overrides).
static YAML::Node load_tree(const std::string& yaml_text, ConfigSource& src,
                            const std::vector<std::string>& overrides) {
  const std::string& file = src.file;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": expected valid YAML, got a syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(file + ": expected valid YAML: " + e.what());
  }
  std::string model_source;  // the override that set model.id or model.path
  for (const auto& s : overrides) {
    std::string value;
    src.overrides.push_back(parse_override(s, value));
    const ConfigOverride& ov = src.overrides.back();
    if (ov.path.size() == 2 && ov.path[0] == "model" && (ov.path[1] == "id" || ov.path[1] == "path") &&
        !value.empty()) {
      if (!model_source.empty() && model_source.rfind("model." + ov.path[1] + "=", 0) != 0)
        throw ConfigError("--set " + s + ": expected one model source, got this and --set " + model_source);
      model_source = s;
    }
    apply_override(root, ov, value);
  }
  return root;
}

// One `sweep:` axis as found in the tree: the axis and its sequence of value nodes.
struct SweepDecl {
  SweepAxis axis;
  KeyPath path;
  YAML::Node values;
};

static std::string flow(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

// `sweep:` maps key paths to non-empty sequences of values. A key may be dotted
// (`model.revision`) or nested (`model: {revision: [...]}`, what --set sweep.model.revision=
// makes); both name the same path.
static void decode_sweep(const ConfigSource& src, const YAML::Node& n, const KeyPath& at, std::vector<SweepDecl>& out) {
  const KeyPath where_at = child(KeyPath{"sweep"}, join(at));
  if (!n.IsMap() || n.size() == 0)
    fail(src, n, at.empty() ? KeyPath{"sweep"} : where_at,
         "expected a mapping of key paths to lists of values (e.g. model.revision: [step1000, step143000]), got " +
             describe(n));
  for (const auto& kv : n) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty())
      fail(src, kv.first, KeyPath{"sweep"}, "expected key paths, got " + describe(kv.first));
    KeyPath path = at;
    const std::string& key = kv.first.Scalar();
    for (size_t b = 0;;) {
      const size_t dot = key.find('.', b);
      path.push_back(key.substr(b, dot == std::string::npos ? std::string::npos : dot - b));
      if (path.back().empty())
        fail(src, kv.first, KeyPath{"sweep"}, "expected a dotted key path such as model.revision, got '" + key + "'");
      if (dot == std::string::npos) break;
      b = dot + 1;
    }
    const KeyPath kp{"sweep", join(path)};
    if (path[0] == "sweep") fail(src, kv.first, kp, "a sweep cannot change sweep:");
    if (kv.second.IsMap()) {
      decode_sweep(src, kv.second, path, out);
      continue;
    }
    if (!kv.second.IsSequence() || kv.second.size() == 0)
      fail(src, kv.second, kp, "expected a non-empty sequence of values, one per variant, got " + describe(kv.second));
    for (const auto& d : out)
      if (d.axis.key == join(path))
        fail(src, kv.first, kp, "duplicate sweep key (also at " + d.axis.origin.prefix + ")");
    SweepDecl d;
    d.axis.key = join(path);
    d.axis.origin.prefix = src.where(kv.first, kp);
    for (size_t i = 0; i < kv.second.size(); ++i) d.axis.values.push_back(flow(kv.second[i]));
    d.path = path;
    d.values = kv.second;
    out.push_back(std::move(d));
  }
}

// Per-axis value index of variant k: the last axis varies fastest.
static std::vector<size_t> variant_digits(const std::vector<SweepAxis>& axes, int64_t k) {
  std::vector<size_t> digits(axes.size());
  for (size_t i = axes.size(); i-- > 0;) {
    const int64_t n = int64_t(axes[i].values.size());
    digits[i] = size_t(k % n);
    k /= n;
  }
  return digits;
}

// A file-name-safe label of variant k: its values joined by '_' (a path value by its last
// component); "sweep-K" when two variants' labels would coincide.
static std::string variant_slug(const std::vector<SweepAxis>& axes, int64_t k) {
  auto slug = [&](int64_t v) {
    std::string out;
    const auto digits = variant_digits(axes, v);
    for (size_t i = 0; i < axes.size(); ++i) {
      std::string x = axes[i].values[digits[i]];
      while (x.size() > 1 && x.back() == '/') x.pop_back();
      if (auto slash = x.rfind('/'); slash != std::string::npos) x = x.substr(slash + 1);
      for (char& ch : x)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_') ch = '-';
      out += (i ? "_" : "") + x;
    }
    return out.size() > 60 ? std::string() : out;
  };
  int64_t n = 1;
  for (const auto& a : axes) n *= int64_t(a.values.size());
  const std::string mine = slug(k);
  bool unique = !mine.empty();
  for (int64_t v = 0; v < n && unique; ++v)
    if (v != k && slug(v) == mine) unique = false;
  return unique ? mine : "sweep-" + std::to_string(k);
}

// Decodes the config as variant k of its sweep (k = -1: no sweep values applied).
static ExperimentConfig decode(const std::string& yaml_text, const std::string& file,
                               const std::vector<std::string>& overrides, int64_t k) {
  ExperimentConfig c;
  c.source.file = file;
  YAML::Node root = load_tree(yaml_text, c.source, overrides);
  std::vector<SweepDecl> sweep;
  if (root.IsMap()) {
    const YAML::Node& croot = root;
    if (YAML::Node sw = croot["sweep"]; sw.IsDefined()) {
      if (!sw.IsNull()) decode_sweep(c.source, sw, {}, sweep);
      remove_key(root, "sweep");
    }
  }
  for (const auto& d : sweep) c.sweep.push_back(d.axis);
  {
    // Checked before any loop over the variants (--dry-run lists them, the run decodes each).
    int64_t n = 1;
    for (const auto& d : sweep)
      if (__builtin_mul_overflow(n, int64_t(d.values.size()), &n) || n > limits::kMaxSweepVariants)
        throw ConfigError(
            d.axis.origin.prefix + ": expected a sweep of at most " + std::to_string(limits::kMaxSweepVariants) +
            " variants (rig's limit), got more with this key's " + std::to_string(d.values.size()) + " values");
  }
  if (k >= 0) {
    const auto digits = variant_digits(c.sweep, k);
    for (size_t i = 0; i < sweep.size(); ++i) {
      ConfigOverride ov;
      ov.path = sweep[i].path;
      ov.text = "sweep variant " + std::to_string(k) + ": " + sweep[i].axis.key + "=" + sweep[i].axis.values[digits[i]];
      ov.sweep_at = sweep[i].axis.origin.prefix;
      c.source.overrides.push_back(ov);
      apply_override_node(root, c.source.overrides.back(), sweep[i].values[digits[i]]);
    }
    c.sweep_index = k;
  }
  {
    Decoder d(c.source, root, {}, "a mapping of experiment keys at the top level");
    fields(d, c);
    d.finish();
  }
  expand_stimuli(c, root["stimuli"]);
  if (!c.stimuli.empty() && c.trials.repetitions > limits::kMaxTrials / int64_t(c.stimuli.size())) {
    const YAML::Node& croot = root;
    const YAML::Node trials = croot["trials"];
    fail(c.source, trials.IsMap() ? trials["repetitions"] : trials, KeyPath{"trials", "repetitions"},
         "expected at most " + std::to_string(limits::kMaxTrials) + " trials in all (rig's limit), got " +
             std::to_string(c.stimuli.size()) + " stimuli x " + std::to_string(c.trials.repetitions) + " repetitions");
  }

  Printer full(false);
  fields(full, c);
  c.resolved_yaml = emit(full.out);

  // Identity: the resolved config less where-it-runs keys, plus every stimulus as loaded
  // (file contents count), plus the sweep variant (its values may be where-it-runs keys,
  // such as model.path to one checkpoint of several).
  Printer ident(true);
  fields(ident, c);
  std::string id = emit(ident.out);
  for (const auto& row : c.stimuli) {
    auto field = [&](const std::string& s) { id += std::to_string(s.size()) + ":" + s; };
    field(row.condition);
    field(row.prompt);
    // Text as before typed fields (same hash); other types tagged, so 1 and "1" differ.
    for (const auto& [key, v] : row.extra)
      field(key), field(field_type(v) == FieldType::kString
                            ? field_text(v)
                            : std::string(field_type_name(field_type(v))) + ":" + field_text(v));
    id += "\n";
  }
  if (k >= 0) {
    id += "sweep variant: " + sweep_label(c, k) + "\n";
    bool sets_path = false;
    for (const auto& a : c.sweep) sets_path |= a.key == "recording.path";
    if (!sets_path) {
      const std::filesystem::path p(c.recording.path);
      c.recording.path =
          (p.parent_path() / (p.stem().string() + "." + variant_slug(c.sweep, k) + p.extension().string())).string();
    }
  }
  c.config_hash = fnv1a_hex(id);
  return c;
}

}  // namespace cfg

ExperimentConfig parse_experiment(const std::string& yaml_text, const std::string& file,
                                  const std::vector<std::string>& overrides, int64_t sweep_index) {
  ExperimentConfig c = cfg::decode(yaml_text, file, overrides, -1);
  const int64_t n = sweep_size(c);
  if (n == 0) {
    if (sweep_index >= 0)
      throw ConfigError(file + ": sweep variant " + std::to_string(sweep_index) +
                        " requested, but the config has no sweep: key");
    return c;
  }
  if (sweep_index >= n)
    throw ConfigError(file + ": sweep variant " + std::to_string(sweep_index) + ": expected 0.." +
                      std::to_string(n - 1) + " (" + std::to_string(n) + " variants)");
  // Check every variant now, so a bad value fails on the login node, not in array task 37.
  ExperimentConfig chosen;
  for (int64_t k = 0; k < n; ++k) {
    ExperimentConfig v = cfg::decode(yaml_text, file, overrides, k);
    if (k == std::max<int64_t>(sweep_index, 0)) chosen = std::move(v);
  }
  if (sweep_index < 0) chosen.sweep_index = -1;
  return chosen;
}

int64_t sweep_size(const ExperimentConfig& cfg) {
  if (cfg.sweep.empty()) return 0;
  int64_t n = 1;
  for (const auto& a : cfg.sweep) n *= int64_t(a.values.size());
  return n;
}

std::vector<std::pair<std::string, std::string>> sweep_values(const ExperimentConfig& cfg, int64_t k) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto digits = cfg::variant_digits(cfg.sweep, k);
  for (size_t i = 0; i < cfg.sweep.size(); ++i) out.emplace_back(cfg.sweep[i].key, cfg.sweep[i].values[digits[i]]);
  return out;
}

std::string sweep_label(const ExperimentConfig& cfg, int64_t k) {
  std::string s;
  for (const auto& [key, v] : sweep_values(cfg, k)) s += (s.empty() ? "" : ", ") + key + "=" + v;
  return s;
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides,
                                 int64_t sweep_index) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError(path + ": expected a readable experiment config (YAML), got " +
                      (std::filesystem::exists(path) ? "a file that cannot be read" : "no such file"));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_experiment(ss.str(), path, overrides, sweep_index);
}

std::vector<std::pair<std::string, std::string>> config_attributes(const ExperimentConfig& cfg) {
  YAML::Node root = YAML::Load(cfg.resolved_yaml);
  std::vector<std::pair<std::string, std::string>> out;
  cfg::flatten(root, "", out);
  return out;
}

}  // namespace rig
