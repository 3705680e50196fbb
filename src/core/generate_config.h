#pragma once
// How responses are generated, in one struct: the config's `trials.generate` section (its
// field list is in experiment/config.cc), `rig generate`'s flags, and model/generate.h's
// GenerateOptions, which adds what the runner knows besides (the EOS id, padding).
#include <cstdint>

namespace rig {

struct GenerateConfig {
  int64_t max_new_tokens = 0;  // 0 = prompt only
  bool greedy = true;
  double temperature = 1.0;  // > 0 unless greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // [0, 1]; 1 = off
  bool stop_at_eos = false;
};

}  // namespace rig
