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

std::vector<ElectrodeSpec> resolve_electrodes(const ExperimentConfig& cfg, const SiteCatalog& catalog) {
  struct Pick {
    bool all = false;
    std::set<int64_t> neurons;
    std::string sae;                // the SAE whose latents it records ("" = the neurons)
    const ElectrodeSelector* by = nullptr;  // the first electrode that picked it
  };
  std::map<std::pair<size_t, int>, Pick> picks;  // (catalog index, 0 input / 1 output)

  for (const ElectrodeSelector& e : cfg.electrodes) {
    const char* side = side_name(e.side);
    const bool input = e.side == Side::kInput;
    std::vector<size_t> matched;
    if (e.match == SiteMatch::kExact) {
      for (size_t i = 0; i < catalog.size(); ++i)
        if (catalog[i].name == e.site) matched.push_back(i);
      if (matched.empty()) {
        std::vector<std::string> names;
        for (const auto& s : catalog) names.push_back(s.name);
        std::string msg = "expected a site of the model, got '" + e.site + "'";
        if (std::string c = cfg::closest(e.site, names); !c.empty()) msg += "; did you mean '" + c + "'?";
        throw ConfigError(e.origin.error(msg + " ('rig inspect' lists the sites)"));
      }
      const SiteInfo& s = catalog[matched[0]];
      if (!s.called)
        throw ConfigError(e.origin.error("site '" + s.name + "' (" + s.module_type +
                                         ") is never called by the model's forward pass, so it cannot be recorded"));
      if (input && !s.has_input)
        throw ConfigError(e.origin.error("site '" + s.name + "' (" + s.module_type +
                                         ") has no float input to record (e.g. an embedding takes token ids); "
                                         "use side: output"));
    } else {
      SafeRegex rx;
      try {
        rx = e.match == SiteMatch::kGlob ? glob_regex(e.site) : SafeRegex(e.site.substr(1, e.site.size() - 2));
      } catch (const std::invalid_argument& err) {
        throw ConfigError(e.origin.error("expected a valid pattern, got '" + e.site + "': " + err.what()));
      }
      size_t any = 0;
      for (size_t i = 0; i < catalog.size(); ++i) {
        bool hit = false;
        try {
          hit = rx.full_match(catalog[i].name);
        } catch (const Error& err) {
          throw ConfigError(e.origin.error(err.what()));
        }
        if (!hit) continue;
        ++any;
        if (catalog[i].called && (!input || catalog[i].has_input)) matched.push_back(i);
      }
      if (any == 0)
        throw ConfigError(e.origin.error("expected a pattern matching at least one site, got '" + e.site +
                                         "', which matches none ('rig inspect' lists the sites; "
                                         "'*' stops at dots, '**' does not)"));
      if (matched.empty())
        throw ConfigError(e.origin.error("'" + e.site + "' matches " + std::to_string(any) +
                                         " site(s), none of which can be recorded on the " + side +
                                         " side (never called, or no float input)"));
    }

    for (size_t i : matched) {
      const SiteInfo& s = catalog[i];
      const int64_t width = input ? s.in_width : s.out_width;
      Pick& pick = picks[{i, input ? 0 : 1}];
      // One dataset per (site, side): its neurons or one SAE's latents, not both.
      if (pick.by && pick.sae != e.sae) {
        auto what = [](const std::string& sae) { return sae.empty() ? std::string("its neurons") : "the latents of SAE " + sae; };
        throw ConfigError(e.origin.error("site '" + s.name + "' " + side + " is recorded as " + what(pick.sae) + " by " +
                                         pick.by->origin.prefix + ", and as " + what(e.sae) +
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
              "expected neuron indices below " + std::to_string(width) + " (the " + side + " width of " +
              s.name + "), got " + std::to_string(bad)));
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
    spec.side = key.second == 0 ? Side::kInput : Side::kOutput;
    spec.module_type = s.module_type;
    spec.layer = s.layer;
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
