#pragma once
// Internal to src/stimulation: the values of op add's `vector:` and op mean-ablate's `mean:`,
// inline, from a .npy file, an HDF5 dataset, or condition means of a rig recording.
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "experiment/config.h"
#include "stimulation/stimulation.h"

namespace rig {

// Decodes `n` (at key path `path`) for intervention iv and returns one value per selected
// neuron of iv... or, for a file vector, the file's values as they are (the caller checks the
// width). *from says where the values came from, for the plan. mean_only: op mean-ablate's
// {recording, condition, rows} form only. Throws ConfigError.
std::vector<float> load_vector(const ExperimentConfig& cfg, const YAML::Node& n, const std::vector<std::string>& path,
                               const Intervention& iv, std::string* from, bool mean_only = false);

// A .npy file of float32 or float64 values (any shape, C order), flattened. Throws ConfigError
// with `where` as prefix.
std::vector<float> read_npy(const std::string& file, const std::string& where);

}  // namespace rig
