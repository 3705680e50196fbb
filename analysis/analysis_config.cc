#include "analysis/analysis_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "experiment/schema.h"
#include "analysis/alignment.h"
#include "core/events.h"
#include "recording/reader.h"

namespace rig::analysis {
namespace {

using cfg::child;
using cfg::Codec;
using cfg::Decoder;
using cfg::EnumRule;
using cfg::KeyPath;

constexpr int64_t kRows = 1 << 20;  // bound on row offsets and counts

std::string list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s.empty() ? "none" : s;
}

// One name or a list of names.
Codec<std::vector<std::string>> names() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            auto one = [&](const YAML::Node& e, const KeyPath& ep) {
              if (!e.IsScalar() || e.Scalar().empty())
                cfg::fail(d.source(), e, ep, "expected a non-empty string, got " + cfg::describe(e));
              return e.Scalar();
            };
            if (n.IsScalar()) return std::vector<std::string>{one(n, p)};
            if (!n.IsSequence()) cfg::fail(d.source(), n, p, "expected a list of names, got " + cfg::describe(n));
            std::vector<std::string> out;
            for (size_t i = 0; i < n.size(); ++i) out.push_back(one(n[i], child(p, std::to_string(i))));
            return out;
          },
          [](const std::vector<std::string>& v) {
            YAML::Node n;
            for (const auto& s : v) n.push_back(s);
            return n;
          }};
}

// [start, stop]: row offsets from the event, inclusive.
using Range = std::pair<int64_t, int64_t>;
Codec<Range> row_range() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            if (!n.IsSequence() || n.size() != 2)
              cfg::fail(d.source(), n, p,
                        "expected [start, stop] (row offsets from the event, inclusive), got " + cfg::describe(n));
            int64_t ab[2];
            for (size_t i = 0; i < 2; ++i)
              if (!n[i].IsScalar() || !cfg::parse_int(n[i].Scalar(), ab[i]) || ab[i] < -kRows || ab[i] > kRows)
                cfg::fail(d.source(), n[i], child(p, std::to_string(i)),
                          "expected an integer from " + std::to_string(-kRows) + " to " + std::to_string(kRows) +
                              ", got " + cfg::describe(n[i]));
            if (ab[1] < ab[0])
              cfg::fail(d.source(), n, p,
                        "expected start <= stop, got [" + std::to_string(ab[0]) + ", " + std::to_string(ab[1]) + "]");
            return Range{ab[0], ab[1]};
          },
          [](const Range& r) {
            YAML::Node n;
            n.push_back(r.first);
            n.push_back(r.second);
            return n;
          }};
}

// A value written as a NAME or as a mapping {kind: NAME, ...} (smoothing, normalize) or
// [start, stop] or {window: [start, stop], ...} (baseline): the short form is the first
// field of the mapping.
template <class T>
Codec<T> short_or_mapping(const char* what,
                          std::function<void(const Decoder&, const YAML::Node&, const KeyPath&, T&)> short_form) {
  return {[what, short_form](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            T t;
            if (n.IsMap()) {
              Decoder m(d.source(), n, p, what);
              fields(m, t);
              m.finish();
            } else {
              short_form(d, n, p, t);
            }
            return t;
          },
          {}};
}

const EnumRule<Smoothing> kSmoothing{
    {{"none", Smoothing::kNone}, {"boxcar", Smoothing::kBoxcar}, {"gaussian", Smoothing::kGaussian}}};
const EnumRule<Normalize> kNormalize{
    {{"none", Normalize::kNone}, {"zscore", Normalize::kZscore}, {"soft", Normalize::kSoft}}};
const EnumRule<Baseline> kBaselineMode{{{"subtract", Baseline::kSubtract}, {"zscore", Baseline::kZscore}}};
const EnumRule<PcaCenter> kPcaCenter{{{"mean", PcaCenter::kMean}, {"cross_condition", PcaCenter::kCrossCondition}}};
const EnumRule<Side> kSide{{{"output", Side::kOutput}, {"input", Side::kInput}}};

struct SmoothingSpec {
  Smoothing kind = Smoothing::kNone;
  double width = 3;
};
template <class V>
void fields(V& v, SmoothingSpec& s) {
  v("kind", s.kind, kSmoothing, cfg::kRequired);
  v("width", s.width, cfg::num_between(0.1, 65536));
  v.validate([&](Decoder& d) {
    if (s.kind == Smoothing::kBoxcar && d.has("width") && s.width != std::floor(s.width))
      d.fail_at("width", "expected a whole number of rows for boxcar, got " + cfg::describe(d.get("width")));
  });
}

struct NormalizeSpec {
  Normalize kind = Normalize::kNone;
  double c = 5;
};
template <class V>
void fields(V& v, NormalizeSpec& s) {
  v("kind", s.kind, kNormalize, cfg::kRequired);
  v("c", s.c, cfg::num_at_least(0));
  v.validate([&](Decoder& d) {
    if (d.has("c") && s.kind != Normalize::kSoft)
      d.fail_at("c", std::string("c applies to kind soft only, got kind ") + normalize_name(s.kind));
  });
}

struct BaselineSpec {
  Range window;
  Baseline mode = Baseline::kSubtract;
  Where where;  // of the window
};
template <class V>
void fields(V& v, BaselineSpec& b) {
  v("window", b.window, row_range(), cfg::kRequired);
  v("mode", b.mode, kBaselineMode);
  v.validate([&](Decoder& d) { b.where.prefix = d.where("window"); });
}

}  // namespace

// One site: NAME or {site: NAME, side: input | output}.
template <class V>
void fields(V& v, SiteSelector& s) {
  v("site", s.site, cfg::text(), cfg::kRequired);
  v("side", s.side, kSide);
  v.validate([&](Decoder& d) { s.any_side = !d.has("side"); });
}

namespace {

Codec<std::vector<SiteSelector>> site_list() {
  return {[](const Decoder& d, const YAML::Node& n, const KeyPath& p) {
            if (!n.IsSequence()) cfg::fail(d.source(), n, p, "expected a list of sites, got " + cfg::describe(n));
            std::vector<SiteSelector> out;
            for (size_t i = 0; i < n.size(); ++i) {
              const KeyPath ip = child(p, std::to_string(i));
              SiteSelector s;
              s.where.prefix = d.source().where(n[i], ip);
              if (n[i].IsMap()) {
                Decoder m(d.source(), n[i], ip, "a mapping (site, side)");
                fields(m, s);
                m.finish();
              } else if (n[i].IsScalar() && !n[i].Scalar().empty()) {
                s.site = n[i].Scalar();
              } else {
                cfg::fail(d.source(), n[i], ip,
                          "expected a site name or {site: NAME, side: input | output}, got " + cfg::describe(n[i]));
              }
              out.push_back(s);
            }
            return out;
          },
          {}};
}

}  // namespace

// The one list of the analysis keys (docs/ANALYSIS.md).
template <class V>
void fields(V& v, AnalysisConfig& a) {
  v("sites", a.sites, site_list());
  v("conditions", a.conditions, names());
  v("group_by", a.group_by, names());
  v("event", a.event, cfg::text());
  v("pre", a.pre, cfg::int_between(0, kRows));
  v("post", a.post, cfg::int_between(0, kRows));
  v("bin", a.bin, cfg::int_between(1, kRows));
  SmoothingSpec sm{a.smoothing, a.smooth_width};
  v("smoothing", sm,
    short_or_mapping<SmoothingSpec>("a mapping (kind, width)",
                                    [](const Decoder& d, const YAML::Node& n, const KeyPath& p, SmoothingSpec& s) {
                                      s.kind = kSmoothing.decode(d.source(), n, p);
                                    }));
  a.smoothing = sm.kind;
  a.smooth_width = sm.width;
  Range window{a.window_start, a.window_stop};
  v("window", window, row_range());
  a.window_start = window.first;
  a.window_stop = window.second;
  BaselineSpec bl;
  v("baseline", bl,
    short_or_mapping<BaselineSpec>("a mapping (window, mode)",
                                   [](const Decoder& d, const YAML::Node& n, const KeyPath& p, BaselineSpec& b) {
                                     b.window = row_range().decode(d, n, p);
                                     b.where.prefix = d.source().where(n, p);
                                   }));
  v("contrast", a.contrast, names());
  v("permutations", a.permutations, cfg::int_between(0, 1000000));
  v("time_resolved", a.time_resolved);
  v("cluster_alpha", a.cluster_alpha, cfg::num_inside(0, 1));
  v("seed", a.seed, cfg::int_at_least(0));
  v("fdr_alpha", a.fdr_alpha, cfg::num_between(1e-12, 1));
  v("pca_components", a.pca_components, cfg::int_between(0, 4096));
  v("pca_center", a.pca_center, kPcaCenter);
  NormalizeSpec nz{a.normalize, a.soft_c};
  v("normalize", nz,
    short_or_mapping<NormalizeSpec>("a mapping (kind, c)",
                                    [](const Decoder& d, const YAML::Node& n, const KeyPath& p, NormalizeSpec& s) {
                                      s.kind = kNormalize.decode(d.source(), n, p);
                                    }));
  a.normalize = nz.kind;
  a.soft_c = nz.c;
  v("folds", a.folds, cfg::int_between(0, 1000));
  v("cv_repeats", a.cv_repeats, cfg::int_between(1, 1000));
  v("decode_permutations", a.decode_permutations, cfg::int_between(0, 1000000));
  v("generalization", a.generalization);
  v("top", a.top, cfg::int_between(0, 1 << 30));
  v("chunk_rows", a.chunk_rows, cfg::int_between(1, 1 << 30));
  v("threads", a.threads, cfg::int_between(0, 1024));
  v.validate([&](Decoder& d) {
    for (auto [key, where] : {std::pair<const char*, Where*>{"sites", &a.sites_where},
                              {"conditions", &a.conditions_where},
                              {"group_by", &a.group_by_where},
                              {"event", &a.event_where},
                              {"contrast", &a.contrast_where}})
      if (d.has(key)) where->prefix = d.where(key);
    if (d.has("group_by") &&
        (a.group_by.empty() || a.group_by.size() > 2 || (a.group_by.size() == 2 && a.group_by[0] == a.group_by[1])))
      d.fail_at("group_by", "expected a stimulus field or two different ones [FIELD1, FIELD2], got " +
                                cfg::describe(d.get("group_by")));
    if (d.has("contrast") && (a.contrast.size() != 2 || a.contrast[0] == a.contrast[1]))
      d.fail_at("contrast", "expected two different conditions [A, B], got " + cfg::describe(d.get("contrast")));
    if (a.folds == 1) d.fail_at("folds", "expected 0 (no decoding) or at least 2 folds, got 1");
    const std::string rows =
        "the aligned rows [-pre, post] = [" + std::to_string(-a.pre) + ", " + std::to_string(a.post) + "]";
    a.window_set = d.has("window");
    if (a.window_set && (a.window_start < -a.pre || a.window_stop > a.post))
      d.fail_at("window", "expected a window inside " + rows + ", got [" + std::to_string(a.window_start) + ", " +
                              std::to_string(a.window_stop) + "]");
    if (d.has("baseline")) {
      a.baseline = bl.mode;
      a.baseline_start = bl.window.first;
      a.baseline_stop = bl.window.second;
      if (a.baseline_start < -a.pre || a.baseline_stop > a.post)
        throw ConfigError(bl.where.error("expected a baseline inside " + rows + ", got [" +
                                         std::to_string(a.baseline_start) + ", " + std::to_string(a.baseline_stop) +
                                         "]"));
    }
  });
}

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

const char* pca_center_name(PcaCenter c) { return c == PcaCenter::kCrossCondition ? "cross_condition" : "mean"; }

const char* smoothing_name(Smoothing s) {
  switch (s) {
    case Smoothing::kNone: return "none";
    case Smoothing::kBoxcar: return "boxcar";
    case Smoothing::kGaussian: return "gaussian";
  }
  return "none";
}

AnalysisConfig parse_analysis(const YAML::Node& node, const std::string& file, const std::string& key_prefix) {
  AnalysisConfig a;
  a.file = file;
  if (!node.IsDefined() || node.IsNull()) return a;
  ConfigSource src;
  src.file = file;
  Decoder d(src, node, key_prefix.empty() ? KeyPath{} : KeyPath{key_prefix}, "a mapping of analysis keys");
  fields(d, a);
  d.finish();
  YAML::Emitter e;
  e << node;
  a.yaml = e.c_str();
  return a;
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
    for (const auto& e : rec.electrodes()) found |= e.site == s.site && (s.any_side || e.side == s.side);
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
      raise(cfg.group_by_where,
            "group_by: '" + f + "' is not a stimulus field of " + file + " (it has: " + list(fields) + ")");
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
      raise(cfg.contrast_where,
            "contrast condition '" + c + "' is not among the analysed conditions (" + list(pool) + ") of " + file);
  }
  const auto events = rec.event_names();
  if (!is_builtin_event(cfg.event) && std::find(events.begin(), events.end(), cfg.event) == events.end())
    raise(cfg.event_where, "event '" + cfg.event + "' is not in " + file + " (it has /events: " + list(events) +
                               "; built-ins: " + kBuiltinEventList + ")");
}

}  // namespace rig::analysis
