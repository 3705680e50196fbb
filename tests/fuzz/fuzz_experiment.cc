// libFuzzer harness: the YAML experiment decoder (load_experiment's parser: keys, rules,
// stimuli expansion, sweeps, overrides). Input: the YAML text; lines starting "#set " are
// --set overrides as well. Any rig::Error is a clean refusal (a ConfigError with file:line:col).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "experiment/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  for (size_t at = text.find("#set "); at != std::string::npos && overrides.size() < 4; at = text.find("#set ", at + 1))
    overrides.push_back(text.substr(
        at + 5, text.find('\n', at) == std::string::npos ? std::string::npos : text.find('\n', at) - at - 5));
  try {
    rig::ExperimentConfig c = rig::parse_experiment(text, "fuzz.yaml", overrides, -1);
    if (rig::sweep_size(c) > 0) rig::parse_experiment(text, "fuzz.yaml", overrides, rig::sweep_size(c) - 1);
    // The trial list is as large as the config allows (limits::kMaxTrials); keep runs fast.
    if (double(c.stimuli.size()) * double(c.trials.repetitions) <= 1e5) (void)rig::expand_trials(c);
    (void)rig::config_attributes(c);
  } catch (const rig::Error&) {}
  return 0;
}
