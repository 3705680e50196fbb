// What needs more than the config file: electrodes matched against a model's sites, the
// trial list with its seeds, and event matching on token text.
#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "experiment/config.h"
#include "experiment/yaml_util.h"

namespace rig {
namespace {

uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Glob to regex: * = any run without '.', ** = any run, ? = one character other than '.'.
SafeRegex glob_regex(const std::string& glob) {
  std::string re;
  for (size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '*' && i + 1 < glob.size() && glob[i + 1] == '*') {
      re += ".*";
      ++i;
    } else if (c == '*') {
      re += "[^.]*";
    } else if (c == '?') {
      re += "[^.]";
    } else {
      if (std::string("\\^$.|+()[]{}").find(c) != std::string::npos) re += '\\';
      re += c;
    }
  }
  return SafeRegex(re, /*utf=*/false);
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

uint64_t trial_seed(uint64_t seed, uint64_t k) {
  uint64_t state = seed + k * 0x9E3779B97F4A7C15ull;
  return splitmix64_next(state);
}

bool EventSpec::matches(const std::string& text) const {
  if (builtin) return false;
  std::string t = trim(text);
  if (!regex) return t == token_text;
  try {
    return regex->full_match(t);
  } catch (const Error& e) {
    throw ConfigError(origin.error(std::string("token_text: ") + e.what()));
  }
}

namespace {
// A site inside attention (P.q, P.pattern, ...) matches a pattern only where the pattern ends
// in its name (".../self_attn.pattern", "/.*\\.z/"), so that "model.layers.**" keeps meaning
// the modules, without every layer's H x max_positions pattern.
bool names_inner_site(std::string pattern, const std::string& site) {
  while (!pattern.empty() && (pattern.back() == '/' || pattern.back() == '$')) pattern.pop_back();
  const std::string last = site.substr(site.rfind('.') + 1);
  return pattern.size() > last.size() && pattern.compare(pattern.size() - last.size(), last.size(), last) == 0 &&
         pattern[pattern.size() - last.size() - 1] == '.';
}
}  // namespace

std::vector<ElectrodeSpec> resolve_electrodes(const ExperimentConfig& cfg, const SiteCatalog& catalog,
                                              const SiteAliases& aliases) {
  struct Pick {
    bool all = false;
    std::set<int64_t> neurons;
    std::string alias;                      // the first alias that selected it
    std::string sae;                        // the SAE whose latents it records ("" = the neurons)
    const ElectrodeSelector* by = nullptr;  // the first electrode that picked it
  };
  std::map<std::pair<size_t, int>, Pick> picks;  // (catalog index, 0 input / 1 output)
  std::map<std::string, size_t> index;           // site name -> catalog index
  for (size_t i = 0; i < catalog.size(); ++i) index.emplace(catalog[i].name, i);
  struct Hit {
    size_t site;
    Side side;
    std::string alias;
  };

  for (const ElectrodeSelector& e : cfg.electrodes) {
    std::vector<Hit> matched;
    auto recordable = [&](const SiteInfo& s, Side side, const std::string& via) {
      if (!s.called)
        throw ConfigError(e.origin.error(via + "site '" + s.name + "' (" + s.module_type +
                                         ") is never called by the model's forward pass, so it cannot be recorded"));
      if (side == Side::kInput && !s.has_input)
        throw ConfigError(e.origin.error(via + "site '" + s.name + "' (" + s.module_type +
                                         ") has no float input to record (e.g. an embedding takes token ids); "
                                         "use side: output"));
    };
    if (e.match == SiteMatch::kExact) {
      const SiteAlias* alias = nullptr;
      for (const auto& a : aliases)
        if (a.alias == e.site) alias = &a;
      if (auto it = index.find(e.site); it != index.end()) {
        recordable(catalog[it->second], e.side, "");
        matched.push_back({it->second, e.side, ""});
      } else if (alias) {
        const std::string is = "'" + e.site + "' (a TransformerLens name) ";
        if (!alias->unavailable.empty())
          throw ConfigError(e.origin.error(is + "names no tensor of this model: " + alias->unavailable));
        auto it = index.find(alias->site);
        if (it == index.end())
          throw ConfigError(e.origin.error(is + "is the " + side_name(alias->side) + " of '" + alias->site +
                                           "', which is not a site of this model or this rig ('rig inspect "
                                           "--sites' lists them)"));
        if (e.side_given && e.side != alias->side)
          throw ConfigError(e.origin.error(is + "is the " + side_name(alias->side) + " of '" + alias->site +
                                           "', not its " + side_name(e.side) +
                                           ": drop side: (an alias brings its own)"));
        recordable(catalog[it->second], alias->side, is + "names ");
        matched.push_back({it->second, alias->side, alias->alias});
      } else {
        std::vector<std::string> names;
        for (const auto& s : catalog) names.push_back(s.name);
        for (const auto& a : aliases)
          if (a.unavailable.empty()) names.push_back(a.alias);
        std::string msg = "expected a site of the model, got '" + e.site + "'";
        if (std::string c = cfg::closest(e.site, names); !c.empty()) msg += "; did you mean '" + c + "'?";
        throw ConfigError(e.origin.error(msg + " ('rig inspect --sites' lists the sites and their aliases)"));
      }
    } else {
      SafeRegex rx;
      try {
        rx = e.match == SiteMatch::kGlob ? glob_regex(e.site) : SafeRegex(e.site.substr(1, e.site.size() - 2));
      } catch (const std::invalid_argument& err) {
        throw ConfigError(e.origin.error("expected a valid pattern, got '" + e.site + "': " + err.what()));
      }
      auto hit = [&](const std::string& name) {
        try {
          return rx.full_match(name);
        } catch (const Error& err) {
          throw ConfigError(e.origin.error(err.what()));
        }
      };
      const bool input = e.side == Side::kInput;
      size_t any = 0;
      for (size_t i = 0; i < catalog.size(); ++i) {
        if (!hit(catalog[i].name) || (catalog[i].inner && !names_inner_site(e.site, catalog[i].name))) continue;
        ++any;
        if (catalog[i].called && (!input || catalog[i].has_input)) matched.push_back({i, e.side, ""});
      }
      // No site name matches: the pattern may be written in aliases ("blocks.*.hook_resid_post").
      // Their sides are their own; a written side keeps those of that side.
      bool via_alias = false;
      if (any == 0)
        for (const auto& a : aliases) {
          if (!a.unavailable.empty() || !hit(a.alias)) continue;
          auto it = index.find(a.site);
          if (it == index.end()) continue;
          ++any;
          via_alias = true;
          const SiteInfo& s = catalog[it->second];
          if ((!e.side_given || e.side == a.side) && s.called && (a.side == Side::kOutput || s.has_input))
            matched.push_back({it->second, a.side, a.alias});
        }
      if (any == 0)
        throw ConfigError(e.origin.error("expected a pattern matching at least one site, got '" + e.site +
                                         "', which matches none ('rig inspect --sites' lists the sites and their "
                                         "aliases; '*' stops at dots, '**' does not)"));
      if (matched.empty())
        throw ConfigError(e.origin.error(
            "'" + e.site + "' matches " + std::to_string(any) +
            (via_alias ? " alias(es), none of which is on the " : " site(s), none of which can be recorded on the ") +
            side_name(e.side) + " side" +
            (via_alias ? " (an alias brings its own side: drop side:)" : " (never called, or no float input)")));
    }

    for (const Hit& h : matched) {
      const SiteInfo& s = catalog[h.site];
      const bool input = h.side == Side::kInput;
      const int64_t width = input ? s.in_width : s.out_width;
      Pick& pick = picks[{h.site, input ? 0 : 1}];
      if (pick.alias.empty()) pick.alias = h.alias;
      // One dataset per (site, side): its neurons or one SAE's latents, not both.
      if (pick.by && pick.sae != e.sae) {
        auto what = [](const std::string& sae) {
          return sae.empty() ? std::string("its neurons") : "the latents of SAE " + sae;
        };
        throw ConfigError(e.origin.error("site '" + s.name + "' " + side_name(h.side) + " is recorded as " +
                                         what(pick.sae) + " by " + pick.by->origin.prefix + ", and as " + what(e.sae) +
                                         " here; an electrode records one of them per site and side"));
      }
      if (!pick.by) pick.by = &e;
      pick.sae = e.sae;
      if (e.neurons.empty()) {
        pick.all = true;
        continue;
      }
      for (auto [a, b] : e.neurons) {
        const int64_t end = b < 0 ? width : b;
        if (a >= width || end > width) {
          int64_t bad = a >= width ? a : end - 1;
          throw ConfigError(e.neurons_origin.error(
              "expected neuron indices below " + std::to_string(width) + " (the " + side_name(h.side) + " width of " +
              s.name + (h.alias.empty() ? "" : ", " + h.alias) + "), got " + std::to_string(bad)));
        }
        for (int64_t n = a; n < end; ++n) pick.neurons.insert(n);
      }
    }
  }

  std::vector<ElectrodeSpec> out;
  for (const auto& [key, pick] : picks) {  // map order = catalog order, input before output
    const SiteInfo& s = catalog[key.first];
    ElectrodeSpec spec;
    spec.site = s.name;
    spec.alias = pick.alias;
    spec.side = key.second == 0 ? Side::kInput : Side::kOutput;
    spec.module_type = s.module_type;
    spec.layer = s.layer;
    spec.heads = s.heads;
    spec.head_axis = s.axis;
    spec.site_width = spec.side == Side::kInput ? s.in_width : s.out_width;
    spec.sae = pick.sae;  // its width becomes the SAE's when the SAE is loaded (src/sae)
    if (!pick.all && int64_t(pick.neurons.size()) < spec.site_width)
      spec.neurons.assign(pick.neurons.begin(), pick.neurons.end());
    out.push_back(std::move(spec));
  }
  return out;
}

std::vector<TrialSpec> expand_trials(const ExperimentConfig& cfg) {
  const int64_t n = int64_t(cfg.stimuli.size());
  std::vector<TrialSpec> trials;
  trials.reserve(size_t(n * cfg.trials.repetitions));
  for (int64_t r = 0; r < cfg.trials.repetitions; ++r) {
    for (int64_t s = 0; s < n; ++s) {
      TrialSpec t;
      t.stimulus = s;
      t.condition = cfg.stimuli[size_t(s)].condition;
      t.repetition = r;
      t.seed = trial_seed(cfg.seed, uint64_t(r * n + s));
      trials.push_back(std::move(t));
    }
  }
  if (cfg.trials.order == TrialOrder::kShuffled) {
    uint64_t state = cfg.seed ^ 0x73687566666c65ull;  // "shuffle"
    for (size_t i = trials.size(); i > 1; --i) {
      size_t j = size_t(splitmix64_next(state) % i);
      std::swap(trials[i - 1], trials[j]);
    }
  }
  for (size_t i = 0; i < trials.size(); ++i) trials[i].index = int64_t(i);
  return trials;
}

}  // namespace rig
