// Expands `stimuli:` entries into the stimulus table: inline prompts, .txt / .jsonl files
// (read relative to the working directory) and templates with a cartesian product of vars.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/json_guard.h"
#include "core/limits.h"
#include "experiment/yaml_util.h"

namespace rig::cfg {
namespace {

namespace fs = std::filesystem;

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

// Why a text cannot be a prompt or condition, or "" when it can. HDF5 stores strings up to
// their first NUL, so "a\0b" would silently become "a" (and merge with condition "a"); text
// that is not UTF-8 is almost always a binary file given as stimuli.
std::string text_problem(const std::string& s) {
  if (size_t nul = s.find('\0'); nul != std::string::npos)
    return "a NUL byte at byte " + std::to_string(nul + 1) + " (HDF5 strings end at NUL; is this a binary file?)";
  if (s.size() > size_t(limits::kMaxPromptBytes))
    return std::to_string(s.size()) + " bytes, more than rig's limit of " + std::to_string(limits::kMaxPromptBytes) +
           " bytes per prompt";
  // UTF-8 well-formedness (RFC 3629): lead byte, continuation bytes, no overlongs/surrogates.
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80                  ? 1
               : (c >= 0xC2 && c < 0xE0) ? 2
               : (c >= 0xE0 && c < 0xF0) ? 3
               : (c >= 0xF0 && c < 0xF5) ? 4
                                         : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n == 3) {
      const auto d = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
    }
    if (ok && n == 4) {
      const auto d = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
    }
    if (!ok) return "invalid UTF-8 at byte " + std::to_string(i + 1) + " (is this a binary file?)";
    i += n;
  }
  return "";
}

// .txt escapes: \n newline, \t tab, \\ backslash; any other backslash stays as written.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char n = s[i + 1];
      if (n == 'n' || n == 't' || n == '\\') {
        out += n == 'n' ? '\n' : n == 't' ? '\t' : '\\';
        ++i;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

struct Where {
  const ConfigSource& src;
  YAML::Node node;
  KeyPath path;
  [[noreturn]] void fail(const std::string& what) const { cfg::fail(src, node, path, what); }
};

// A stimulus's extra fields as written (JSON values; template vars as strings), and where
// its record is, for errors about a field's type (typed in expand_stimuli, across stimuli).
struct RawFields {
  std::map<std::string, nlohmann::json> values;
  std::string file;  // "" = not from a file: the config entry is the place
  int64_t line = 0;
  std::string text;  // the record's line
};

// The record's 1-based column of `key` (its quoted name), or 1 when not found as written.
int64_t key_column(const std::string& text, const std::string& key) {
  const std::string quoted = nlohmann::json(key).dump();
  for (size_t at = text.find(quoted); at != std::string::npos; at = text.find(quoted, at + 1)) {
    size_t k = at + quoted.size();
    while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
    if (k < text.size() && text[k] == ':') return int64_t(at) + 1;
  }
  return 1;
}

std::vector<StimulusRow> read_file(const StimulusSet& set, const Where& w, std::vector<RawFields>& raw) {
  const std::string& file = set.file;
  const std::string ext = fs::path(file).extension().string();
  if (ext != ".txt" && ext != ".jsonl") w.fail("expected a .txt or .jsonl file, got '" + file + "'");
  if (!fs::is_regular_file(file))
    w.fail("expected a stimulus file, got '" + file + "', which " +
           (fs::exists(file) ? "is not a regular file" : "does not exist") + " (relative to the working directory " +
           fs::current_path().string() + ")");
  std::ifstream in(file, std::ios::binary);
  if (!in) w.fail("expected a readable file, got '" + file + "', which cannot be opened");

  std::vector<StimulusRow> rows;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (blank(line)) continue;
    auto bad = [&](const std::string& what) { w.fail(file + ":" + std::to_string(lineno) + ": " + what); };
    StimulusRow row;
    RawFields fields;
    row.condition = set.condition;
    if (ext == ".txt") {
      if (std::string why = text_problem(line); !why.empty()) bad("expected a line of text, got " + why);
      row.prompt = unescape(line);
    } else {
      if (auto deep = json_depth_error(line, limits::kJsonDepth)) bad("expected a JSON object, got JSON " + *deep);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e999)
        bad(std::string("expected a JSON object, got invalid JSON: ") + e.what());
      }
      if (!j.is_object()) bad("expected a JSON object, got " + std::string(j.type_name()));
      auto p = j.find("prompt");
      if (p == j.end() || !p->is_string())  // "" is a stimulus where the tokenizer adds BOS
        bad("expected a string \"prompt\", got " + (p == j.end() ? std::string("no \"prompt\" key") : p->dump()));
      row.prompt = p->get<std::string>();
      if (std::string why = text_problem(row.prompt); !why.empty()) bad("\"prompt\": expected text, got " + why);
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "prompt") continue;
        if (it.key() == "condition" || it.key() == "index")
          bad("\"" + it.key() +
              "\" is a built-in stimulus column; the condition comes from the "
              "config entry (use one entry per condition), rename the field");
        const std::string as_text = it->is_string() ? it->get<std::string>() : it->is_null() ? "" : it->dump();
        if (std::string why = text_problem(it.key() + as_text); !why.empty())
          bad("field \"" + it.key() + "\": expected text, got " + why);
        fields.values[it.key()] = *it;
      }
      fields.file = file, fields.line = lineno, fields.text = line;
    }
    rows.push_back(std::move(row));
    raw.push_back(std::move(fields));
    if (int64_t(rows.size()) > limits::kMaxStimuli)
      bad("more than rig's limit of " + std::to_string(limits::kMaxStimuli) + " stimuli");
  }
  if (rows.empty()) w.fail("expected at least one prompt in '" + file + "', got none (empty lines are skipped)");
  return rows;
}

// A template as literal text and {var} references; {{ and }} are literal braces.
struct Piece {
  bool var;
  std::string text;
};

std::vector<StimulusRow> expand_template(const StimulusSet& set, const Where& tw, const Where& vw) {
  const std::string& t = set.template_;
  std::vector<Piece> pieces;
  std::set<std::string> used;
  std::string lit;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if ((c == '{' || c == '}') && i + 1 < t.size() && t[i + 1] == c) {
      lit += c;
      ++i;
    } else if (c == '{') {
      size_t close = t.find('}', i);
      if (close == std::string::npos)
        tw.fail("expected a template with {name} placeholders, got an unclosed '{' at offset " + std::to_string(i) +
                " (write {{ for a literal brace)");
      std::string name = t.substr(i + 1, close - i - 1);
      bool known = false;
      for (const auto& [v, _] : set.vars) known |= v == name;
      if (!known) {
        std::string names;
        for (const auto& [v, _] : set.vars) names += (names.empty() ? "" : ", ") + v;
        tw.fail("placeholder {" + name + "} is not in vars (vars: " + (names.empty() ? "none" : names) + ")");
      }
      if (!lit.empty()) pieces.push_back({false, lit}), lit.clear();
      pieces.push_back({true, name});
      used.insert(name);
      i = close;
    } else if (c == '}') {
      tw.fail("expected a template with {name} placeholders, got a stray '}' at offset " + std::to_string(i) +
              " (write }} for a literal brace)");
    } else {
      lit += c;
    }
  }
  if (!lit.empty()) pieces.push_back({false, lit});
  for (const auto& [v, _] : set.vars)
    if (!used.count(v)) vw.fail("variable '" + v + "' is not used in the template");

  // The product is checked before it is built: 100 values in each of 5 variables would be
  // 10^10 rows.
  int64_t product = 1;
  for (const auto& [v, values] : set.vars)
    if (__builtin_mul_overflow(product, int64_t(values.size()), &product) || product > limits::kMaxStimuli)
      vw.fail("expected at most " + std::to_string(limits::kMaxStimuli) +
              " prompts from the template (rig's limit), got a product of more (variable '" + v + "' has " +
              std::to_string(values.size()) + " values)");
  // Cartesian product, first variable slowest (like itertools.product).
  std::vector<StimulusRow> rows;
  std::vector<size_t> at(set.vars.size(), 0);
  while (true) {
    StimulusRow row;
    row.condition = set.condition;
    for (size_t k = 0; k < set.vars.size(); ++k) row.extra[set.vars[k].first] = set.vars[k].second[at[k]];
    for (const auto& p : pieces) row.prompt += p.var ? std::get<std::string>(row.extra[p.text]) : p.text;
    if (std::string why = text_problem(row.prompt); !why.empty())
      tw.fail("expected text prompts, got one (" + std::to_string(rows.size()) + ") with " + why);
    rows.push_back(std::move(row));
    size_t k = set.vars.size();
    while (k > 0 && ++at[k - 1] == set.vars[k - 1].second.size()) at[--k] = 0;
    if (k == 0) break;
  }
  return rows;
}

// Types each extra field across all stimuli (core/fields.h) and stores the typed values; a
// value that does not fit is a config error at its record (file:line:col of the key), or at
// the config entry for stimuli without a file.
void type_fields(ExperimentConfig& cfg, const YAML::Node& sn, const std::vector<RawFields>& raw) {
  std::set<std::string> names;
  for (const auto& r : raw)
    for (const auto& kv : r.values) names.insert(kv.first);
  for (const auto& name : names) {
    std::vector<const nlohmann::json*> values(raw.size(), nullptr);
    for (size_t i = 0; i < raw.size(); ++i)
      if (auto it = raw[i].values.find(name); it != raw[i].values.end()) values[i] = &it->second;
    const FieldTyping t = infer_field_type(values);
    if (t.bad >= 0) {
      const auto i = size_t(t.bad);
      const size_t set = size_t(cfg.stimulus_set[i]);
      const YAML::Node entry = sn[set];
      KeyPath p{"stimuli", std::to_string(set)};
      const RawFields& r = raw[i];
      if (r.file.empty())
        Where{cfg.source, entry, p}.fail("stimulus " + std::to_string(i) + ", field \"" + name + "\": " + t.why);
      const int64_t col = values[i] ? key_column(r.text, name) : 1;
      Where{cfg.source, entry["file"], child(p, "file")}.fail(
          r.file + ":" + std::to_string(r.line) + ":" + std::to_string(col) + ": field \"" + name + "\": " + t.why);
    }
    for (size_t i = 0; i < raw.size(); ++i) cfg.stimuli[i].extra[name] = to_field(values[i], t.type);
  }
}

}  // namespace

void expand_stimuli(ExperimentConfig& cfg, const YAML::Node& stimuli_node) {
  cfg.stimuli.clear();
  cfg.stimulus_set.clear();
  const YAML::Node& sn = stimuli_node;
  std::vector<RawFields> raw;  // per stimulus
  for (size_t i = 0; i < cfg.stimulus_sets.size(); ++i) {
    const StimulusSet& set = cfg.stimulus_sets[i];
    const YAML::Node entry = sn[i];
    KeyPath p{"stimuli", std::to_string(i)};
    auto at = [&](const char* key) { return Where{cfg.source, entry[key], child(p, key)}; };
    std::vector<StimulusRow> rows;
    std::vector<RawFields> raw_set;
    if (std::string why = text_problem(set.condition); !why.empty())
      at("condition").fail("expected a condition name of text, got " + why);
    if (!set.prompts.empty()) {
      for (size_t k = 0; k < set.prompts.size(); ++k) {
        if (std::string why = text_problem(set.prompts[k]); !why.empty()) {
          const YAML::Node list = entry["prompts"];  // a sequence, or one scalar prompt
          const bool seq = list.IsSequence();
          Where{cfg.source, seq ? list[k] : list,
                seq ? child(child(p, "prompts"), std::to_string(k)) : child(p, "prompts")}
              .fail("expected a text prompt, got " + why);
        }
        rows.push_back({0, set.condition, set.prompts[k], {}});
      }
    } else if (!set.file.empty()) {
      rows = read_file(set, at("file"), raw_set);
    } else {
      rows = expand_template(set, at("template"), at("vars"));
    }
    raw_set.resize(rows.size());
    for (size_t k = 0; k < rows.size(); ++k)  // template vars: strings
      for (auto& [key, v] : rows[k].extra) raw_set[k].values[key] = std::get<std::string>(v);
    if (int64_t(cfg.stimuli.size() + rows.size()) > limits::kMaxStimuli)
      Where{cfg.source, entry, p}.fail("expected at most " + std::to_string(limits::kMaxStimuli) +
                                       " stimuli in all (rig's limit), got more");
    for (auto& r : rows) {
      r.index = int64_t(cfg.stimuli.size());
      cfg.stimuli.push_back(std::move(r));
      cfg.stimulus_set.push_back(int64_t(i));
    }
    for (auto& f : raw_set) raw.push_back(std::move(f));
  }
  type_fields(cfg, sn, raw);
}

}  // namespace rig::cfg
