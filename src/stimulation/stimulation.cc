// Decoding and checking the `stimulation:` section against a model (docs/STIMULATION.md).
#include "stimulation/stimulation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/events.h"
#include "experiment/yaml_util.h"
#include "model/hook_names.h"
#include "stimulation/vectors.h"

namespace rig {
namespace fs = std::filesystem;

const char* stim_op_name(StimOp op) {
  switch (op) {
    case StimOp::kSet: return "set";
    case StimOp::kMeanAblate: return "mean-ablate";
    case StimOp::kScale: return "scale";
    case StimOp::kAdd: return "add";
    case StimOp::kPatch: return "patch";
  }
  return "?";
}

namespace {

using cfg::KeyPath;
using cfg::child;

const char* const kEntryKeys[] = {"name", "site", "side", "neurons", "positions", "op",
                                  "value", "factor", "vector", "scale", "mean", "source",
                                  "sae", "latents"};

// Which op-specific keys each op takes (required first).
struct OpKeys {
  StimOp op;
  const char* name;
  std::vector<std::string> required, optional;
};
const std::vector<OpKeys>& op_table() {
  static const std::vector<OpKeys> t = {
      {StimOp::kSet, "set", {"value"}, {}},
      {StimOp::kMeanAblate, "mean-ablate", {"mean"}, {}},
      {StimOp::kScale, "scale", {"factor"}, {}},
      {StimOp::kAdd, "add", {"vector"}, {"scale"}},
      {StimOp::kPatch, "patch", {"source"}, {}},
  };
  return t;
}

// Decoding helpers bound to one config: messages start with FILE:LINE:COL: KEY.PATH.
struct Ctx {
  const ExperimentConfig& cfg;
  [[noreturn]] void fail(const YAML::Node& n, const KeyPath& p, const std::string& what) const {
    cfg::fail(cfg.source, n, p, what);
  }
  double number(const YAML::Node& n, const KeyPath& p, const std::string& expect = "a number") const {
    double x = 0;
    if (!n.IsScalar() || !cfg::parse_double(n.Scalar(), x) || !std::isfinite(x))
      fail(n, p, "expected " + expect + ", got " + cfg::describe(n));
    return x;
  }
  std::string text(const YAML::Node& n, const KeyPath& p, const std::string& expect = "a non-empty string") const {
    if (!n.IsScalar() || n.Scalar().empty()) fail(n, p, "expected " + expect + ", got " + cfg::describe(n));
    return n.Scalar();
  }
  // Rejects keys of mapping n not in `known`.
  void only(const YAML::Node& n, const KeyPath& p, const std::vector<std::string>& known,
            const std::string& context = "") const {
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), k) != known.end()) continue;
      std::string msg = "unknown key" + context;
      if (std::string c = cfg::closest(k, known); !c.empty()) msg += "; did you mean '" + c + "'?";
      std::string names;
      for (const auto& s : known) names += (names.empty() ? "" : ", ") + s;
      fail(kv.first, child(p, k), msg + " (known keys: " + names + ")");
    }
  }
  RowSelector rows(const YAML::Node& n, const KeyPath& p, bool for_positions) const {
    const std::string t = text(n, p, std::string("rows: ") + kRowSyntax);
    auto r = parse_rows(t);
    if (!r) fail(n, p, std::string("expected ") + kRowSyntax + ", got " + cfg::describe(n));
    if (r->kind == RowSelector::Kind::kEvent && for_positions) {
      // Positions are applied while the trial runs: only events known before generation.
      bool ok = known_before_response(r->event);
      for (const auto& e : cfg.events)
        if (e.name == r->event && !e.builtin && e.in == EventScope::kPrompt) ok = true;
      if (!ok) {
        bool declared = false;
        for (const auto& e : cfg.events) declared |= e.name == r->event;
        fail(n, p, "expected an event known before the response is generated (prompt_onset, response_onset, or "
                   "an events: entry with in: prompt), got '" + r->event + "'" +
                   (declared ? ", which can only be found during or after generation"
                             : ", which is not an event of this config"));
      }
    }
    return *r;
  }
};

}  // namespace

Stimulation Stimulation::from_config(const ExperimentConfig& cfg, CausalLM& model,
                                     const std::vector<std::vector<int64_t>>& prompt_ids, SaeSet* saes) {
  Stimulation st;
  SaeSet own;
  if (!saes) saes = &own;
  Ctx c{cfg};
  st.seed_ = cfg.seed;
  st.n_stimuli_ = int64_t(cfg.stimuli.size());
  for (const auto& s : cfg.stimuli) st.stimulus_condition_.push_back(s.condition);
  for (size_t s = 0; s < cfg.stimuli.size(); ++s) {
    // Before generation: the response starts after the prompt if the trial generates at all.
    const bool known = s < prompt_ids.size();
    st.prompt_events_.push_back(builtin_events(known ? int64_t(prompt_ids[s].size()) : 0,
                                               known ? cfg.trials.generate.max_new_tokens : 0, false));
  }

  const SiteAliases aliases = hook_aliases(model.config());
  SiteCatalog called;
  for (const auto& s : model.catalog())
    if (s.called && !s.name.empty()) called.push_back(s);

  const YAML::Node& root = cfg.stimulation;
  const KeyPath base{"stimulation"};
  std::set<std::string> names;
  if (root.IsDefined() && !root.IsNull()) {
    for (size_t k = 0; k < root.size(); ++k) {
      const YAML::Node e = root[k];
      const KeyPath p = child(base, std::to_string(k));
      if (!e.IsMap())
        c.fail(e, p, "expected a mapping (an intervention with site, op, ...), got " + cfg::describe(e));
      auto get = [&](const char* key) -> YAML::Node {
        const YAML::Node& ce = e;
        return ce[key];
      };
      c.only(e, p, std::vector<std::string>(std::begin(kEntryKeys), std::end(kEntryKeys)));

      Intervention proto;
      proto.entry = k;
      proto.origin = cfg.source.where(e, p);
      if (YAML::Node n = get("name"); n.IsDefined()) {
        proto.name = c.text(n, child(p, "name"));
        static const std::regex ok("[A-Za-z0-9_.-]+");
        if (proto.name.size() > 256 || !std::regex_match(proto.name, ok))  // length first: std::regex recurses per character
          c.fail(n, child(p, "name"), "expected a name of letters, digits, '_', '.' or '-', got " + cfg::describe(n));
        proto.named = true;
        names.insert(proto.name);
      } else {
        proto.name = "stimulation." + std::to_string(k);
      }

      // op first: it decides which other keys belong.
      const YAML::Node opn = get("op");
      if (!opn.IsDefined()) c.fail(e, child(p, "op"), "missing required key (one of set | mean-ablate | scale | add | patch)");
      const OpKeys* ok = nullptr;
      for (const auto& o : op_table())
        if (opn.IsScalar() && opn.Scalar() == o.name) ok = &o;
      if (!ok) c.fail(opn, child(p, "op"), "expected one of set | mean-ablate | scale | add | patch, got " + cfg::describe(opn));
      proto.op = ok->op;
      for (const auto& o : op_table()) {
        if (o.op == proto.op) continue;
        for (const auto& key : o.required)
          if (get(key.c_str()).IsDefined() &&
              std::find(ok->optional.begin(), ok->optional.end(), key) == ok->optional.end())
            c.fail(get(key.c_str()), child(p, key), "only applies with op: " + std::string(o.name) + ", not op: " + ok->name);
      }
      for (const auto& key : ok->required)
        if (!get(key.c_str()).IsDefined()) c.fail(e, child(p, key), std::string("missing required key for op: ") + ok->name);
      if (get("scale").IsDefined() && proto.op != StimOp::kAdd)
        c.fail(get("scale"), child(p, "scale"), "only applies with op: add (use op: scale with factor: to multiply)");

      if (YAML::Node n = get("positions"); n.IsDefined()) proto.positions = c.rows(n, child(p, "positions"), true);

      // site / side / neurons: the electrodes' syntax, matched the same way.
      ElectrodeSelector sel = decode_site_selector(cfg.source, e, p);
      ExperimentConfig one;
      one.electrodes = {sel};
      const std::vector<ElectrodeSpec> sites = resolve_electrodes(one, called, aliases);

      // sae + latents: set or scale SAE latents (a decoder delta on the site).
      if (get("latents").IsDefined() && sel.sae.empty())
        c.fail(get("latents"), child(p, "latents"), "only applies with 'sae' (the SAE whose latents these are)");
      if (!sel.sae.empty()) {
        if (proto.op != StimOp::kSet && proto.op != StimOp::kScale)
          c.fail(opn, child(p, "op"), std::string("expected set or scale with 'sae' (latents are set or scaled), got ") + ok->name);
        const YAML::Node ln = get("latents");
        if (!ln.IsDefined()) c.fail(e, child(p, "latents"), "missing required key with 'sae' (the latents to set or scale)");
        proto.sae_dir = sel.sae;
        try {
          proto.sae = sae_for(*saes, sel.sae);
        } catch (const ModelError& err) {
          c.fail(get("sae"), child(p, "sae"), err.what());
        }
        const int64_t S = proto.sae->config().d_sae;
        std::set<int64_t> ks;
        const std::vector<YAML::Node> items = ln.IsSequence() ? std::vector<YAML::Node>(ln.begin(), ln.end())
                                                              : std::vector<YAML::Node>{ln};
        for (size_t j = 0; j < items.size(); ++j) {
          int64_t k = -1;
          if (!items[j].IsScalar() || !cfg::parse_int(items[j].Scalar(), k) || k < 0 || k >= S)
            c.fail(items[j], ln.IsSequence() ? child(child(p, "latents"), std::to_string(j)) : child(p, "latents"),
                   "expected a latent index in 0.." + std::to_string(S - 1) + " (d_sae " + std::to_string(S) + " in " +
                       (proto.sae->dir() / "cfg.json").string() + "), got " + cfg::describe(items[j]));
          ks.insert(k);
        }
        if (ks.empty()) c.fail(ln, child(p, "latents"), "expected at least one latent index, got " + cfg::describe(ln));
        proto.latents.assign(ks.begin(), ks.end());
      }

      // Op values that do not depend on the site.
      double vscale = 1;
      if (proto.op == StimOp::kSet) proto.value = c.number(get("value"), child(p, "value"));
      if (proto.op == StimOp::kScale) proto.factor = c.number(get("factor"), child(p, "factor"));
      if (proto.op == StimOp::kAdd && get("scale").IsDefined()) vscale = c.number(get("scale"), child(p, "scale"));
      if (proto.op == StimOp::kPatch) {
        const YAML::Node src = get("source");
        const KeyPath sp = child(p, "source");
        if (!src.IsMap() || src.size() != 1)
          c.fail(src, sp, "expected {stimulus: N} or {condition: NAME}, got " + cfg::describe(src));
        c.only(src, sp, {"stimulus", "condition"});
        const YAML::Node& cs = src;
        if (cs["stimulus"].IsDefined()) {
          int64_t i = -1;
          const YAML::Node n = cs["stimulus"];
          if (!n.IsScalar() || !cfg::parse_int(n.Scalar(), i) || i < 0)
            c.fail(n, child(sp, "stimulus"), "expected a stimulus index >= 0, got " + cfg::describe(n));
          if (i >= st.n_stimuli_)
            c.fail(n, child(sp, "stimulus"), "expected a patch source among the " + std::to_string(st.n_stimuli_) +
                                                 " stimuli (0.." + std::to_string(st.n_stimuli_ - 1) + "), got " +
                                                 std::to_string(i));
          proto.source_stimulus = i;
        } else {
          const YAML::Node n = cs["condition"];
          proto.source_condition = c.text(n, child(sp, "condition"));
          if (std::find(st.stimulus_condition_.begin(), st.stimulus_condition_.end(), proto.source_condition) ==
              st.stimulus_condition_.end()) {
            std::vector<std::string> conds(st.stimulus_condition_.begin(), st.stimulus_condition_.end());
            std::sort(conds.begin(), conds.end());
            conds.erase(std::unique(conds.begin(), conds.end()), conds.end());
            std::string list;
            for (const auto& s : conds) list += (list.empty() ? "" : ", ") + s;
            c.fail(n, child(sp, "condition"), "expected the condition of a patch source (conditions: " + list +
                                                  "), got '" + proto.source_condition + "'");
          }
        }
      }

      for (const ElectrodeSpec& es : sites) {
        Intervention iv = proto;
        iv.site = es.site;
        iv.side = es.side;
        iv.site_width = es.site_width;
        iv.neurons = es.neurons;
        const auto id = model.find_site(es.site);
        if (!id) throw ConfigError(proto.origin + ": site '" + es.site + "' is not a site of " + model.type());
        iv.site_id = *id;
        if (iv.sae && iv.sae->config().d_in != iv.site_width)
          c.fail(get("sae"), child(p, "sae"), (iv.sae->dir() / "cfg.json").string() + ": d_in is " +
                                                  std::to_string(iv.sae->config().d_in) + ", expected " +
                                                  std::to_string(iv.site_width) + " (the " + side_name(iv.side) +
                                                  " width of " + iv.site + ")");
        const std::string what = "the " + std::string(side_name(iv.side)) + " width of " + iv.site +
                                 (iv.neurons.empty() ? "" : ", " + std::to_string(iv.width()) + " neurons selected");
        if (proto.op == StimOp::kAdd) {
          const YAML::Node vn = get("vector");
          iv.vector = load_vector(cfg, vn, child(p, "vector"), iv, &iv.vector_from);
          if (int64_t(iv.vector.size()) != iv.width())
            c.fail(vn, child(p, "vector"), "expected a vector of " + std::to_string(iv.width()) + " values (" + what +
                                               "), got " + std::to_string(iv.vector.size()));
          for (float& v : iv.vector) v = float(double(v) * vscale);
          if (vscale != 1) {
            std::ostringstream os;
            os << iv.vector_from << " x " << vscale;
            iv.vector_from = os.str();
          }
        }
        if (proto.op == StimOp::kMeanAblate) {
          const YAML::Node mn = get("mean");
          if (!mn.IsMap() || !mn["recording"].IsDefined())
            c.fail(mn, child(p, "mean"), "expected {recording: FILE.h5, condition: NAME, rows: ROWS}, got " +
                                             cfg::describe(mn));
          iv.vector = load_vector(cfg, mn, child(p, "mean"), iv, &iv.vector_from, /*mean_only=*/true);
        }
        st.interventions_.push_back(std::move(iv));
      }
    }
  }

  // Which stimuli get which interventions.
  std::set<std::string> listed;
  for (const auto& set : cfg.stimulus_sets) {
    for (size_t j = 0; j < set.stimulation.size(); ++j) {
      const std::string& n = set.stimulation[j];
      listed.insert(n);
      if (!names.count(n)) {
        std::string known;
        for (const auto& s : names) known += (known.empty() ? "" : ", ") + s;
        std::string msg = "expected the name of a stimulation: entry (" +
                          (known.empty() ? std::string("there are none") : "named: " + known) + "), got '" + n + "'";
        if (std::string cl = cfg::closest(n, {names.begin(), names.end()}); !cl.empty())
          msg += "; did you mean '" + cl + "'?";
        throw ConfigError(set.stimulation_origin.error(msg));
      }
    }
  }
  for (const auto& iv : st.interventions_)
    if (iv.named && !listed.count(iv.name))
      throw ConfigError(iv.origin + ": name: stimulation '" + iv.name +
                        "' is given to no trial: list it under a stimuli entry (stimulation: [" + iv.name +
                        "]), or drop its name to give it to every trial");

  st.per_stimulus_.resize(cfg.stimuli.size());
  st.labels_.resize(cfg.stimuli.size());
  for (size_t s = 0; s < cfg.stimuli.size(); ++s) {
    const size_t set = s < cfg.stimulus_set.size() ? size_t(cfg.stimulus_set[s]) : 0;
    const auto& given = cfg.stimulus_sets.empty() ? std::vector<std::string>{} : cfg.stimulus_sets[set].stimulation;
    std::vector<std::string> label;
    for (size_t i = 0; i < st.interventions_.size(); ++i) {
      const Intervention& iv = st.interventions_[i];
      if (iv.named && std::find(given.begin(), given.end(), iv.name) == given.end()) continue;
      st.per_stimulus_[s].push_back(i);
      if (std::find(label.begin(), label.end(), iv.name) == label.end()) label.push_back(iv.name);
      if (iv.op == StimOp::kPatch && st.patch_source(i, int64_t(s)) < 0)
        throw ConfigError(iv.origin + ": source: condition '" + iv.source_condition +
                          "' has no patch source for stimulus " + std::to_string(s) + " ('" + cfg.stimuli[s].condition +
                          "'): a target that is the k-th stimulus of its condition is patched from the k-th stimulus "
                          "of the source condition, and '" + iv.source_condition + "' has fewer stimuli");
    }
    for (size_t j = 0; j < label.size(); ++j) st.labels_[s] += (j ? "+" : "") + label[j];
  }
  return st;
}

int64_t Stimulation::patch_source(size_t i, int64_t s) const {
  const Intervention& iv = interventions_.at(i);
  if (iv.source_stimulus >= 0) return iv.source_stimulus;
  // The k-th stimulus of the target's condition pairs with the k-th of the source condition.
  int64_t k = 0;
  for (int64_t j = 0; j < s; ++j) k += stimulus_condition_[size_t(j)] == stimulus_condition_[size_t(s)];
  for (int64_t j = 0; j < n_stimuli_; ++j)
    if (stimulus_condition_[size_t(j)] == iv.source_condition && k-- == 0) return j;
  return -1;
}

uint64_t Stimulation::source_seed(int64_t source_stimulus, int64_t repetition) const {
  return trial_seed(seed_, uint64_t(repetition * n_stimuli_ + source_stimulus));
}

std::string Stimulation::describe() const {
  std::ostringstream os;
  for (const auto& iv : interventions_) {
    os << "  " << iv.name << ": " << stim_op_name(iv.op) << " " << iv.site << " " << side_name(iv.side) << ", ";
    if (iv.sae) os << iv.latents.size() << " latent(s) of SAE " << iv.sae_dir << " (decoder delta)";
    else if (iv.neurons.empty()) os << "all " << iv.site_width << " neurons";
    else os << iv.neurons.size() << " of " << iv.site_width << " neurons";
    os << ", positions " << iv.positions.text;
    switch (iv.op) {
      case StimOp::kSet: os << ", value " << iv.value; break;
      case StimOp::kScale: os << ", factor " << iv.factor; break;
      case StimOp::kAdd:
      case StimOp::kMeanAblate: {
        double norm = 0;
        for (float v : iv.vector) norm += double(v) * v;
        os << ", " << iv.vector_from << " (|v| = " << std::sqrt(norm) << ")";
        break;
      }
      case StimOp::kPatch:
        if (iv.source_stimulus >= 0) os << ", from stimulus " << iv.source_stimulus;
        else os << ", from condition " << iv.source_condition << " (k-th to k-th)";
        break;
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace rig
