#pragma once
// Internal to src/experiment: small helpers shared by the config decoder and the stimulus
// loader. Key paths are vectors of components ("stimuli", "0", "prompts").
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "experiment/config.h"

namespace rig::cfg {

using KeyPath = std::vector<std::string>;

inline KeyPath child(KeyPath p, const std::string& key) {
  p.push_back(key);
  return p;
}

std::string join(const KeyPath& p);

// What a node holds, for "got ..." in messages: -3, 'abc', nothing, a mapping, a sequence.
std::string describe(const YAML::Node& n);

// Throws ConfigError "<where>: <what>".
[[noreturn]] void fail(const ConfigSource& src, const YAML::Node& n, const KeyPath& p,
                       const std::string& what);

// Strict scalar parsing (whole text, no YAML 1.1 extras).
bool parse_int(const std::string& s, int64_t& out);
bool parse_double(const std::string& s, double& out);
bool parse_bool(const std::string& s, bool& out);

// The known name closest to `key`, or "" when none is close.
std::string closest(const std::string& key, const std::vector<std::string>& known);

// Fills cfg.stimuli from cfg.stimulus_sets (reads files, expands templates). stimuli.cc.
void expand_stimuli(ExperimentConfig& cfg, const YAML::Node& stimuli_node);

}  // namespace rig::cfg
