#include "analysis/analysis_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "analysis/alignment.h"
#include "core/events.h"
#include "recording/reader.h"

namespace rig::analysis {
namespace {

const std::vector<std::string> kKeys = {
    "sites", "conditions", "group_by", "event", "pre", "post", "bin", "smoothing", "window", "baseline",
    "contrast", "permutations", "time_resolved", "cluster_alpha", "seed", "fdr_alpha", "pca_components", "pca_center", "normalize",
    "folds", "cv_repeats", "decode_permutations", "generalization", "top", "chunk_rows", "threads"};

// Decoding context: the file and the key path of the mapping being read.
struct Ctx {
  std::string file;
  std::string prefix;  // "analysis" or ""

  std::string path(const std::string& key) const { return prefix.empty() ? key : prefix + "." + key; }
  Where where(const YAML::Node& n, const std::string& key) const {
    std::string s = file;
    if (n.IsDefined() && !n.Mark().is_null())
      s += ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
    return Where{s + ": " + path(key)};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& key, const std::string& what) const {
    throw ConfigError(where(n, key).error(what));
  }
};

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a sequence";
  return "'" + n.Scalar() + "'";
}

int64_t get_int(const Ctx& c, const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (!n.IsScalar() || used != s.size() || s.empty())
    c.fail(n, key, "expected an integer, got " + describe(n));
  if (v < lo || v > hi)
    c.fail(n, key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "], got " + s);
  return v;
}

double get_double(const Ctx& c, const YAML::Node& n, const std::string& key, double lo, double hi) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (!n.IsScalar() || used != s.size() || s.empty() || !std::isfinite(v))
    c.fail(n, key, "expected a number, got " + describe(n));
  if (v < lo || v > hi) {
    std::ostringstream o;
    o << "expected a number in [" << lo << ", " << hi << "], got " << s;
    c.fail(n, key, o.str());
  }
  return v;
}

std::string get_string(const Ctx& c, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar() || n.Scalar().empty()) c.fail(n, key, "expected a non-empty string, got " + describe(n));
  return n.Scalar();
}

std::vector<std::string> get_strings(const Ctx& c, const YAML::Node& n, const std::string& key) {
  std::vector<std::string> out;
  if (n.IsScalar()) return {get_string(c, n, key)};
  if (!n.IsSequence()) c.fail(n, key, "expected a list of names, got " + describe(n));
  for (size_t i = 0; i < n.size(); ++i) out.push_back(get_string(c, n[i], key + "." + std::to_string(i)));
  return out;
}

bool get_bool(const Ctx& c, const YAML::Node& n, const std::string& key) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  if (s == "true") return true;
  if (s == "false") return false;
  c.fail(n, key, "expected true or false, got " + describe(n));
}

// [start, stop]: row offsets from the event, inclusive.
std::pair<int64_t, int64_t> get_range(const Ctx& c, const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence() || n.size() != 2)
    c.fail(n, key, "expected [start, stop] (row offsets from the event, inclusive), got " + describe(n));
  const int64_t a = get_int(c, n[0], key + ".0", -(1 << 20), 1 << 20);
  const int64_t b = get_int(c, n[1], key + ".1", -(1 << 20), 1 << 20);
  if (b < a) c.fail(n, key, "expected start <= stop, got [" + std::to_string(a) + ", " + std::to_string(b) + "]");
  return {a, b};
}

// A mapping's keys must be among `known` (with "did you mean").
void check_keys(const Ctx& c, const YAML::Node& n, const std::string& key, const std::vector<std::string>& known);

// Edit distance, for "did you mean" on unknown keys.
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> d(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t prev = d[0];
    d[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cur = d[j];
      d[j] = std::min({d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1])});
      prev = cur;
    }
  }
  return d[b.size()];
}

std::string list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s.empty() ? "none" : s;
}

void check_keys(const Ctx& c, const YAML::Node& n, const std::string& key, const std::vector<std::string>& known) {
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string best;
    size_t bd = 3;
    for (const auto& x : known)
      if (size_t d = distance(k, x); d < bd) bd = d, best = x;
    c.fail(kv.first, (key.empty() ? "" : key + ".") + k,
           "unknown key" + (best.empty() ? " (known: " + list(known) + ")" : " (did you mean '" + best + "'?)"));
  }
}

}  // namespace

const char* normalize_name(Normalize n) {
  switch (n) {
    case Normalize::kNone: return "none";
    case Normalize::kZscore: return "zscore";
    case Normalize::kSoft: return "soft";
  }
  return "none";
}

const char* baseline_name(Baseline b) {
  switch (b) {
    case Baseline::kNone: return "none";
    case Baseline::kSubtract: return "subtract";
    case Baseline::kZscore: return "zscore";
  }
  return "none";
}

const char* pca_center_name(PcaCenter c) {
  return c == PcaCenter::kCrossCondition ? "cross_condition" : "mean";
}

const char* smoothing_name(Smoothing s) {
  switch (s) {
    case Smoothing::kNone: return "none";
    case Smoothing::kBoxcar: return "boxcar";
    case Smoothing::kGaussian: return "gaussian";
  }
  return "none";
}

AnalysisConfig parse_analysis(const YAML::Node& node, const std::string& file,
                              const std::string& key_prefix) {
  AnalysisConfig cfg;
  cfg.file = file;
  Ctx c{file, key_prefix};
  if (!node.IsDefined() || node.IsNull()) return cfg;
  if (!node.IsMap()) throw ConfigError(c.where(node, "").prefix + ": expected a mapping, got " + describe(node));
  {
    YAML::Emitter e;
    e << node;
    cfg.yaml = e.c_str();
  }
  check_keys(c, node, "", kKeys);
  if (auto n = node["sites"]) {
    cfg.sites_where = c.where(n, "sites");
    if (!n.IsSequence()) c.fail(n, "sites", "expected a list of sites, got " + describe(n));
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string key = "sites." + std::to_string(i);
      SiteSelector s;
      s.where = c.where(n[i], key);
      if (n[i].IsMap()) {
        for (const auto& kv : n[i])
          if (kv.first.Scalar() != "site" && kv.first.Scalar() != "side")
            c.fail(kv.first, key + "." + kv.first.Scalar(), "unknown key (known: site, side)");
        s.site = get_string(c, n[i]["site"], key + ".site");
        if (auto sd = n[i]["side"]) {
          const std::string v = get_string(c, sd, key + ".side");
          if (v != "input" && v != "output") c.fail(sd, key + ".side", "expected input or output, got '" + v + "'");
          s.any_side = false;
          s.side = v == "input" ? Side::kInput : Side::kOutput;
        }
      } else {
        s.site = get_string(c, n[i], key);
      }
      cfg.sites.push_back(s);
    }
  }
  if (auto n = node["conditions"]) {
    cfg.conditions_where = c.where(n, "conditions");
    cfg.conditions = get_strings(c, n, "conditions");
  }
  if (auto n = node["group_by"]) {
    cfg.group_by_where = c.where(n, "group_by");
    cfg.group_by = get_strings(c, n, "group_by");
    if (cfg.group_by.empty() || cfg.group_by.size() > 2 ||
        (cfg.group_by.size() == 2 && cfg.group_by[0] == cfg.group_by[1]))
      c.fail(n, "group_by", "expected a stimulus field or two different ones [FIELD1, FIELD2], got " + describe(n));
  }
  if (auto n = node["event"]) {
    cfg.event_where = c.where(n, "event");
    cfg.event = get_string(c, n, "event");
  }
  if (auto n = node["pre"]) cfg.pre = get_int(c, n, "pre", 0, 1 << 20);
  if (auto n = node["post"]) cfg.post = get_int(c, n, "post", 0, 1 << 20);
  if (auto n = node["bin"]) cfg.bin = get_int(c, n, "bin", 1, 1 << 20);
  if (auto n = node["smoothing"]) {
    YAML::Node kind = n.IsMap() ? n["kind"] : n;
    if (n.IsMap())
      for (const auto& kv : n)
        if (kv.first.Scalar() != "kind" && kv.first.Scalar() != "width")
          c.fail(kv.first, "smoothing." + kv.first.Scalar(), "unknown key (known: kind, width)");
    const std::string k = get_string(c, kind, n.IsMap() ? "smoothing.kind" : "smoothing");
    if (k == "none") cfg.smoothing = Smoothing::kNone;
    else if (k == "boxcar") cfg.smoothing = Smoothing::kBoxcar;
    else if (k == "gaussian") cfg.smoothing = Smoothing::kGaussian;
    else c.fail(kind, "smoothing.kind", "expected none, boxcar or gaussian, got '" + k + "'");
    if (n.IsMap() && n["width"]) {
      cfg.smooth_width = get_double(c, n["width"], "smoothing.width", 0.1, 1 << 16);
      if (cfg.smoothing == Smoothing::kBoxcar && cfg.smooth_width != std::floor(cfg.smooth_width))
        c.fail(n["width"], "smoothing.width", "expected a whole number of rows for boxcar, got " +
                                                   n["width"].Scalar());
    }
  }
  if (auto n = node["window"]) {
    if (!n.IsSequence() || n.size() != 2)
      c.fail(n, "window", "expected [start, stop] (row offsets from the event, inclusive), got " + describe(n));
    cfg.window_start = get_int(c, n[0], "window.0", -(1 << 20), 1 << 20);
    cfg.window_stop = get_int(c, n[1], "window.1", -(1 << 20), 1 << 20);
    cfg.window_set = true;
    if (cfg.window_stop < cfg.window_start)
      c.fail(n, "window", "expected start <= stop, got [" + std::to_string(cfg.window_start) + ", " +
                              std::to_string(cfg.window_stop) + "]");
  }
  if (auto n = node["baseline"]) {
    // [start, stop] (subtract) or {window: [start, stop], mode: subtract | zscore}.
    YAML::Node w = n;
    cfg.baseline = Baseline::kSubtract;
    if (n.IsMap()) {
      check_keys(c, n, "baseline", {"window", "mode"});
      w.reset(n["window"]);  // reset, not =: assigning a Node writes through to n
      if (!w) c.fail(n, "baseline.window", "expected [start, stop] (row offsets from the event, inclusive), got nothing");
      if (auto m = n["mode"]) {
        const std::string v = get_string(c, m, "baseline.mode");
        if (v == "zscore") cfg.baseline = Baseline::kZscore;
        else if (v != "subtract") c.fail(m, "baseline.mode", "expected subtract or zscore, got '" + v + "'");
      }
    }
    const auto [a, b] = get_range(c, w, n.IsMap() ? "baseline.window" : "baseline");
    cfg.baseline_start = a;
    cfg.baseline_stop = b;
    if (a < -cfg.pre || b > cfg.post)
      c.fail(w, n.IsMap() ? "baseline.window" : "baseline",
             "expected a baseline inside the aligned rows [-pre, post] = [" + std::to_string(-cfg.pre) + ", " +
                 std::to_string(cfg.post) + "], got [" + std::to_string(a) + ", " + std::to_string(b) + "]");
  }
  if (auto n = node["contrast"]) {
    cfg.contrast_where = c.where(n, "contrast");
    cfg.contrast = get_strings(c, n, "contrast");
    if (cfg.contrast.size() != 2 || cfg.contrast[0] == cfg.contrast[1])
      c.fail(n, "contrast", "expected two different conditions [A, B], got " + describe(n));
  }
  if (auto n = node["permutations"]) cfg.permutations = get_int(c, n, "permutations", 0, 1000000);
  if (auto n = node["seed"]) cfg.seed = uint64_t(get_int(c, n, "seed", 0, INT64_MAX));
  if (auto n = node["fdr_alpha"]) cfg.fdr_alpha = get_double(c, n, "fdr_alpha", 1e-12, 1);
  if (auto n = node["pca_components"]) cfg.pca_components = get_int(c, n, "pca_components", 0, 4096);
  if (auto n = node["pca_center"]) {
    const std::string v = get_string(c, n, "pca_center");
    if (v == "cross_condition") cfg.pca_center = PcaCenter::kCrossCondition;
    else if (v != "mean") c.fail(n, "pca_center", "expected mean or cross_condition, got '" + v + "'");
  }
  if (auto n = node["normalize"]) {
    // none | zscore | soft, or {kind: soft, c: 5}.
    YAML::Node kind = n.IsMap() ? n["kind"] : n;
    if (n.IsMap()) check_keys(c, n, "normalize", {"kind", "c"});
    const std::string k = get_string(c, kind, n.IsMap() ? "normalize.kind" : "normalize");
    if (k == "none") cfg.normalize = Normalize::kNone;
    else if (k == "zscore") cfg.normalize = Normalize::kZscore;
    else if (k == "soft") cfg.normalize = Normalize::kSoft;
    else c.fail(kind, n.IsMap() ? "normalize.kind" : "normalize", "expected none, zscore or soft, got '" + k + "'");
    if (n.IsMap() && n["c"]) {
      if (cfg.normalize != Normalize::kSoft)
        c.fail(n["c"], "normalize.c", "c applies to kind soft only, got kind " + k);
      cfg.soft_c = get_double(c, n["c"], "normalize.c", 0, 1e300);
    }
  }
  if (auto n = node["time_resolved"]) cfg.time_resolved = get_bool(c, n, "time_resolved");
  if (auto n = node["cluster_alpha"]) {
    cfg.cluster_alpha = get_double(c, n, "cluster_alpha", 0, 1);
    if (cfg.cluster_alpha <= 0 || cfg.cluster_alpha >= 1)
      c.fail(n, "cluster_alpha", "expected a number in (0, 1), got " + n.Scalar());
  }
  if (auto n = node["cv_repeats"]) cfg.cv_repeats = get_int(c, n, "cv_repeats", 1, 1000);
  if (auto n = node["decode_permutations"]) cfg.decode_permutations = get_int(c, n, "decode_permutations", 0, 1000000);
  if (auto n = node["generalization"]) cfg.generalization = get_bool(c, n, "generalization");
  if (auto n = node["folds"]) {
    cfg.folds = get_int(c, n, "folds", 0, 1000);
    if (cfg.folds == 1) c.fail(n, "folds", "expected 0 (no decoding) or at least 2 folds, got 1");
  }
  if (auto n = node["top"]) cfg.top = get_int(c, n, "top", 0, 1 << 30);
  if (auto n = node["chunk_rows"]) cfg.chunk_rows = get_int(c, n, "chunk_rows", 1, 1 << 30);
  if (auto n = node["threads"]) cfg.threads = get_int(c, n, "threads", 0, 1024);
  if (cfg.window_set && (cfg.window_start < -cfg.pre || cfg.window_stop > cfg.post))
    c.fail(node["window"], "window",
           "expected a window inside the aligned rows [-pre, post] = [" + std::to_string(-cfg.pre) +
               ", " + std::to_string(cfg.post) + "], got [" + std::to_string(cfg.window_start) + ", " +
               std::to_string(cfg.window_stop) + "]");
  return cfg;
}

AnalysisConfig load_analysis_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the analysis config (no such file?)");
  std::stringstream ss;
  ss << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(ss.str());
  } catch (const YAML::ParserException& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": expected valid YAML, got a syntax error: " + e.msg);
  }
  if (root.IsMap() && root["analysis"]) return parse_analysis(root["analysis"], path, "analysis");
  return parse_analysis(root, path, "");
}

AnalysisConfig analysis_from_recording(const RecordingReader& rec) {
  auto text = rec.attr("config");
  const std::string where = rec.path().string() + " (root attribute 'config')";
  if (!text || text->empty()) return AnalysisConfig{};
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    throw DataError(where + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap() || !root["analysis"]) return AnalysisConfig{};
  return parse_analysis(root["analysis"], where, "analysis");
}

void check_against(const AnalysisConfig& cfg, const RecordingReader& rec) {
  auto raise = [](const Where& w, const std::string& what) -> void {
    if (w.prefix.empty()) throw DataError(what);
    throw ConfigError(w.error(what));
  };
  const std::string file = rec.path().string();
  std::vector<std::string> sites;
  for (const auto& e : rec.electrodes()) {
    const std::string s = e.site + "/" + side_name(e.side);
    sites.push_back(s);
  }
  for (const auto& s : cfg.sites) {
    bool found = false;
    for (const auto& e : rec.electrodes())
      found |= e.site == s.site && (s.any_side || e.side == s.side);
    if (!found)
      raise(s.where, "site '" + s.site + (s.any_side ? "" : std::string("/") + side_name(s.side)) +
                         "' is not recorded in " + file + " (it has: " + list(sites) + ")");
  }
  std::vector<std::string> fields;
  for (const auto& s : rec.stimuli())
    for (const auto& kv : s.extra)
      if (std::find(fields.begin(), fields.end(), kv.first) == fields.end()) fields.push_back(kv.first);
  for (const auto& f : cfg.group_by)
    if (std::find(fields.begin(), fields.end(), f) == fields.end())
      raise(cfg.group_by_where, "group_by: '" + f + "' is not a stimulus field of " + file + " (it has: " +
                                    list(fields) + ")");
  std::vector<std::string> conds;
  for (const auto& t : rec.trials()) {
    const std::string label = trial_label(rec, cfg, t);
    if (std::find(conds.begin(), conds.end(), label) == conds.end()) conds.push_back(label);
  }
  for (const auto& c : cfg.conditions)
    if (std::find(conds.begin(), conds.end(), c) == conds.end())
      raise(cfg.conditions_where, "condition '" + c + "' has no trials in " + file + " (it has: " + list(conds) + ")");
  for (const auto& c : cfg.contrast) {
    const auto& pool = cfg.conditions.empty() ? conds : cfg.conditions;
    if (std::find(pool.begin(), pool.end(), c) == pool.end())
      raise(cfg.contrast_where, "contrast condition '" + c + "' is not among the analysed conditions (" +
                                    list(pool) + ") of " + file);
  }
  const auto events = rec.event_names();
  if (!is_builtin_event(cfg.event) && std::find(events.begin(), events.end(), cfg.event) == events.end())
    raise(cfg.event_where, "event '" + cfg.event + "' is not in " + file + " (it has /events: " + list(events) +
                               "; built-ins: " + kBuiltinEventList + ")");
}

}  // namespace rig::analysis
