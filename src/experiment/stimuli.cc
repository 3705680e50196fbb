// Expands `stimuli:` entries into the stimulus table: inline prompts, .txt / .jsonl files
// (read relative to the working directory) and templates with a cartesian product of vars.
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "experiment/yaml_util.h"

namespace rig::cfg {
namespace {

namespace fs = std::filesystem;

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

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

std::vector<StimulusRow> read_file(const StimulusSet& set, const Where& w) {
  const std::string& file = set.file;
  const std::string ext = fs::path(file).extension().string();
  if (ext != ".txt" && ext != ".jsonl")
    w.fail("expected a .txt or .jsonl file, got '" + file + "'");
  if (!fs::is_regular_file(file))
    w.fail("expected a stimulus file, got '" + file + "', which " +
           (fs::exists(file) ? "is not a regular file" : "does not exist") +
           " (relative to the working directory " + fs::current_path().string() + ")");
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
    row.condition = set.condition;
    if (ext == ".txt") {
      row.prompt = unescape(line);
    } else {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        bad(std::string("expected a JSON object, got invalid JSON: ") + e.what());
      }
      if (!j.is_object()) bad("expected a JSON object, got " + std::string(j.type_name()));
      auto p = j.find("prompt");
      if (p == j.end() || !p->is_string())  // "" is a stimulus where the tokenizer adds BOS
        bad("expected a string \"prompt\", got " +
            (p == j.end() ? std::string("no \"prompt\" key") : p->dump()));
      row.prompt = p->get<std::string>();
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "prompt") continue;
        if (it.key() == "condition" || it.key() == "index")
          bad("\"" + it.key() + "\" is a built-in stimulus column; the condition comes from the "
              "config entry (use one entry per condition), rename the field");
        row.extra[it.key()] = it->is_string() ? it->get<std::string>() : it->is_null() ? "" : it->dump();
      }
    }
    rows.push_back(std::move(row));
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

  // Cartesian product, first variable slowest (like itertools.product).
  std::vector<StimulusRow> rows;
  std::vector<size_t> at(set.vars.size(), 0);
  while (true) {
    StimulusRow row;
    row.condition = set.condition;
    for (size_t k = 0; k < set.vars.size(); ++k) row.extra[set.vars[k].first] = set.vars[k].second[at[k]];
    for (const auto& p : pieces) row.prompt += p.var ? row.extra[p.text] : p.text;
    rows.push_back(std::move(row));
    size_t k = set.vars.size();
    while (k > 0 && ++at[k - 1] == set.vars[k - 1].second.size()) at[--k] = 0;
    if (k == 0) break;
  }
  return rows;
}

}  // namespace

void expand_stimuli(ExperimentConfig& cfg, const YAML::Node& stimuli_node) {
  cfg.stimuli.clear();
  cfg.stimulus_set.clear();
  const YAML::Node& sn = stimuli_node;
  for (size_t i = 0; i < cfg.stimulus_sets.size(); ++i) {
    const StimulusSet& set = cfg.stimulus_sets[i];
    const YAML::Node entry = sn[i];
    KeyPath p{"stimuli", std::to_string(i)};
    auto at = [&](const char* key) { return Where{cfg.source, entry[key], child(p, key)}; };
    std::vector<StimulusRow> rows;
    if (!set.prompts.empty()) {
      for (const auto& prompt : set.prompts) rows.push_back({0, set.condition, prompt, {}});
    } else if (!set.file.empty()) {
      rows = read_file(set, at("file"));
    } else {
      rows = expand_template(set, at("template"), at("vars"));
    }
    for (auto& r : rows) {
      r.index = int64_t(cfg.stimuli.size());
      cfg.stimuli.push_back(std::move(r));
      cfg.stimulus_set.push_back(int64_t(i));
    }
  }
}

}  // namespace rig::cfg
