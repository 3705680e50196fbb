#pragma once
// Internal to src/experiment: the stimulus loader, and the schema engine's helpers (schema.h)
// for the config decoder and the stimulus loader.
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "experiment/config.h"
#include "experiment/schema.h"

namespace rig::cfg {

// Fills cfg.stimuli from cfg.stimulus_sets (reads files, expands templates). stimuli.cc.
void expand_stimuli(ExperimentConfig& cfg, const YAML::Node& stimuli_node);

}  // namespace rig::cfg
