// Decoding and checking the `stimulation:` section against a model (docs/STIMULATION.md).
#include "stimulation/stimulation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/events.h"
#include "experiment/schema.h"
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

using cfg::child;
using cfg::KeyPath;

// Which op-specific keys each op takes (required first).
struct OpKeys {
  StimOp op;
  const char* name;
  std::vector<std::string> required, optional;
};
const std::vector<OpKeys>& op_table() {
  static const std::vector<OpKeys> t = {
      {StimOp::kSet, "set", {"value"}, {}},      {StimOp::kMeanAblate, "mean-ablate", {"mean"}, {}},
      {StimOp::kScale, "scale", {"factor"}, {}}, {StimOp::kAdd, "add", {"vector"}, {"scale"}},
      {StimOp::kPatch, "patch", {"source"}, {}},
  };
  return t;
}

const cfg::EnumRule<StimOp>& op_rule() {
  static const cfg::EnumRule<StimOp> r = [] {
    cfg::EnumRule<StimOp> e;
    for (const auto& o : op_table()) e.names.emplace_back(o.name, o.op);
    return e;
  }();
  return r;
}

// Rows (positions:), in the syntax of rows.h. Positions are applied while the trial runs, so
// only events known before generation.
cfg::Codec<RowSelector> positions_codec(const ExperimentConfig& c) {
  return {[&c](const cfg::Decoder& d, const YAML::Node& n, const KeyPath& p) {
            const RowSelector r = rows_codec().decode(d, n, p);
            if (r.kind == RowSelector::Kind::kEvent) {
              bool ok = known_before_response(r.event);
              for (const auto& e : c.events)
                if (e.name == r.event && !e.builtin && e.in == EventScope::kPrompt) ok = true;
              if (!ok) {
                bool declared = false;
                for (const auto& e : c.events) declared |= e.name == r.event;
                cfg::fail(d.source(), n, p,
                          "expected an event known before the response is generated (prompt_onset, response_onset, "
                          "or an events: entry with in: prompt), got '" +
                              r.event + "'" +
                              (declared ? ", which can only be found during or after generation"
                                        : ", which is not an event of this config"));
              }
            }
            return r;
          },
          rows_codec().encode};
}

// SAE latent indices: one or a non-empty list, each >= 0 (below d_sae: checked with the SAE).
cfg::Codec<std::vector<int64_t>> latents_codec() {
  return {[](const cfg::Decoder& d, const YAML::Node& n, const KeyPath& p) {
            std::vector<int64_t> out;
            auto one = [&](const YAML::Node& e, const KeyPath& ep) {
              int64_t k = -1;
              if (!e.IsScalar() || !cfg::parse_int(e.Scalar(), k) || k < 0)
                cfg::fail(d.source(), e, ep, "expected a latent index >= 0, got " + cfg::describe(e));
              out.push_back(k);
            };
            if (n.IsScalar()) {
              one(n, p);
            } else if (n.IsSequence() && n.size() > 0) {
              for (size_t i = 0; i < n.size(); ++i) one(n[i], child(p, std::to_string(i)));
            } else {
              cfg::fail(d.source(), n, p, "expected at least one latent index, got " + cfg::describe(n));
            }
            return out;
          },
          [](const std::vector<int64_t>& v) {
            YAML::Node n;
            for (int64_t k : v) n.push_back(k);
            return n;
          }};
}

// patch's source: exactly one of stimulus or condition (checked after decoding).
struct PatchSource {
  int64_t stimulus = -1;
  std::string condition;
  int given = 0;
};

template <class V>
void fields(V& v, PatchSource& s) {
  v("stimulus", s.stimulus, cfg::IntRule{0, INT64_MAX, "a stimulus index >= 0"});
  v("condition", s.condition, cfg::text());
  v.validate([&](cfg::Decoder& d) { s.given = int(d.has("stimulus")) + int(d.has("condition")); });
}

// One `stimulation:` entry as written; the op-dependent keys are checked after decoding.
struct Entry {
  explicit Entry(const ExperimentConfig& c) : cfg(c) {}
  const ExperimentConfig& cfg;
  std::string name;
  StimOp op = StimOp::kSet;
  RowSelector positions;
  double value = 0, factor = 1, scale = 1;
  VectorSource vector, mean;
  PatchSource source;
  ElectrodeSelector sel;
  std::vector<int64_t> latents;
};

template <class V>
void fields(V& v, Entry& e) {
  v("name", e.name, cfg::matching("[A-Za-z0-9_.-]{1,256}", "a name of letters, digits, '_', '.' or '-'"));
  v("op", e.op, op_rule(), cfg::kRequired);
  fields(v, e.sel);  // site, side, neurons, sae: the electrodes' syntax, matched the same way
  v("positions", e.positions, positions_codec(e.cfg));
  v("value", e.value, cfg::num_any());
  v("factor", e.factor, cfg::num_any());
  v("vector", e.vector, vector_codec(false));
  v("scale", e.scale, cfg::num_any());
  v("mean", e.mean, vector_codec(true));
  v.section("source", e.source, "{stimulus: N} or {condition: NAME}");
  v("latents", e.latents, latents_codec());
}

}  // namespace

Stimulation Stimulation::from_config(const ExperimentConfig& cfg, CausalLM& model,
                                     const std::vector<std::vector<int64_t>>& prompt_ids, SaeSet* saes) {
  Stimulation st;
  SaeSet own;
  if (!saes) saes = &own;
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
      Entry en(cfg);
      cfg::Decoder d(cfg.source, e, p, "a mapping (an intervention with site, op, ...)");
      fields(d, en);
      d.finish();
      auto get = [&](const char* key) { return d.get(key); };
      auto fail = [&](const YAML::Node& n, const KeyPath& at, const std::string& what) {
        cfg::fail(cfg.source, n, at, what);
      };

      Intervention proto;
      proto.entry = k;
      proto.origin = cfg.source.where(e, p);
      proto.named = d.has("name");
      proto.name = proto.named ? en.name : "stimulation." + std::to_string(k);
      if (proto.named) names.insert(proto.name);

      // The op decides which other keys belong.
      proto.op = en.op;
      const OpKeys* ok = nullptr;
      for (const auto& o : op_table())
        if (o.op == proto.op) ok = &o;
      for (const auto& o : op_table()) {
        if (o.op == proto.op) continue;
        for (const auto& key : o.required)
          if (d.has(key) && std::find(ok->optional.begin(), ok->optional.end(), key) == ok->optional.end())
            d.fail_at(key, "only applies with op: " + std::string(o.name) + ", not op: " + ok->name);
      }
      for (const auto& key : ok->required)
        if (!d.has(key)) d.fail_at(key, std::string("missing required key for op: ") + ok->name);
      if (d.has("scale") && proto.op != StimOp::kAdd)
        d.fail_at("scale", "only applies with op: add (use op: scale with factor: to multiply)");
      proto.positions = en.positions;

      const ElectrodeSelector& sel = en.sel;
      ExperimentConfig one;
      one.electrodes = {sel};
      const std::vector<ElectrodeSpec> sites = resolve_electrodes(one, called, aliases);

      // sae + latents: set or scale SAE latents (a decoder delta on the site).
      if (d.has("latents") && sel.sae.empty())
        d.fail_at("latents", "only applies with 'sae' (the SAE whose latents these are)");
      if (!sel.sae.empty()) {
        if (proto.op != StimOp::kSet && proto.op != StimOp::kScale)
          d.fail_at("op", std::string("expected set or scale with 'sae' (latents are set or scaled), got ") + ok->name);
        if (!d.has("latents")) d.fail_at("latents", "missing required key with 'sae' (the latents to set or scale)");
        proto.sae_dir = sel.sae;
        try {
          proto.sae = sae_for(*saes, sel.sae);
        } catch (const ModelError& err) {
          d.fail_at("sae", err.what());
        }
        const int64_t S = proto.sae->config().d_sae;
        const YAML::Node ln = get("latents");
        for (size_t j = 0; j < en.latents.size(); ++j)
          if (en.latents[j] >= S)
            fail(ln.IsSequence() ? ln[j] : ln,
                 ln.IsSequence() ? child(child(p, "latents"), std::to_string(j)) : child(p, "latents"),
                 "expected a latent index in 0.." + std::to_string(S - 1) + " (d_sae " + std::to_string(S) + " in " +
                     (proto.sae->dir() / "cfg.json").string() + "), got " + std::to_string(en.latents[j]));
        const std::set<int64_t> ks(en.latents.begin(), en.latents.end());
        proto.latents.assign(ks.begin(), ks.end());
      }

      // Op values that do not depend on the site.
      const double vscale = en.scale;
      proto.value = en.value;
      proto.factor = en.factor;
      if (proto.op == StimOp::kPatch) {
        const YAML::Node src = get("source");
        const KeyPath sp = child(p, "source");
        if (en.source.given != 1)
          fail(src, sp,
               std::string("expected {stimulus: N} or {condition: NAME}, got ") +
                   (en.source.given ? "both" : "neither"));
        const YAML::Node& cs = src;
        if (cs["stimulus"].IsDefined()) {
          const int64_t i = en.source.stimulus;
          if (i >= st.n_stimuli_)
            fail(cs["stimulus"], child(sp, "stimulus"),
                 "expected a patch source among the " + std::to_string(st.n_stimuli_) + " stimuli (0.." +
                     std::to_string(st.n_stimuli_ - 1) + "), got " + std::to_string(i));
          proto.source_stimulus = i;
        } else {
          proto.source_condition = en.source.condition;
          if (std::find(st.stimulus_condition_.begin(), st.stimulus_condition_.end(), proto.source_condition) ==
              st.stimulus_condition_.end()) {
            std::vector<std::string> conds(st.stimulus_condition_.begin(), st.stimulus_condition_.end());
            std::sort(conds.begin(), conds.end());
            conds.erase(std::unique(conds.begin(), conds.end()), conds.end());
            std::string list;
            for (const auto& s : conds) list += (list.empty() ? "" : ", ") + s;
            fail(cs["condition"], child(sp, "condition"),
                 "expected the condition of a patch source (conditions: " + list + "), got '" + proto.source_condition +
                     "'");
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
          fail(get("sae"), child(p, "sae"),
               (iv.sae->dir() / "cfg.json").string() + ": d_in is " + std::to_string(iv.sae->config().d_in) +
                   ", expected " + std::to_string(iv.site_width) + " (the " + side_name(iv.side) + " width of " +
                   iv.site + ")");
        const std::string what = "the " + std::string(side_name(iv.side)) + " width of " + iv.site +
                                 (iv.neurons.empty() ? "" : ", " + std::to_string(iv.width()) + " neurons selected");
        if (proto.op == StimOp::kAdd) {
          const YAML::Node vn = get("vector");
          iv.vector = load_vector(en.vector, iv, &iv.vector_from);
          if (int64_t(iv.vector.size()) != iv.width())
            fail(vn, child(p, "vector"),
                 "expected a vector of " + std::to_string(iv.width()) + " values (" + what + "), got " +
                     std::to_string(iv.vector.size()));
          for (float& v : iv.vector) v = float(double(v) * vscale);
          if (vscale != 1) {
            std::ostringstream os;
            os << iv.vector_from << " x " << vscale;
            iv.vector_from = os.str();
          }
        }
        if (proto.op == StimOp::kMeanAblate) iv.vector = load_vector(en.mean, iv, &iv.vector_from);
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
                          "of the source condition, and '" +
                          iv.source_condition + "' has fewer stimuli");
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
