#include "sae/electrodes.h"

#include "core/error.h"

namespace rig {

std::shared_ptr<const Sae> sae_for(SaeSet& set, const std::string& dir) {
  auto it = set.find(dir);
  if (it == set.end()) it = set.emplace(dir, Sae::load(dir)).first;
  return it->second;
}

void bind_sae_electrodes(std::vector<ElectrodeSpec>& electrodes, SaeSet& set) {
  for (ElectrodeSpec& e : electrodes) {
    if (e.sae.empty()) continue;
    const auto sae = sae_for(set, e.sae);
    if (sae->config().d_in != e.site_width)
      throw ConfigError((sae->dir() / "cfg.json").string() + ": d_in: expected " + std::to_string(e.site_width) +
                        " (the " + side_name(e.side) + " width of " + e.site +
                        ", where an electrode puts this SAE), got " + std::to_string(sae->config().d_in));
    e.site_width = sae->config().d_sae + 1;
    e.neurons.clear();
    e.sae_attrs = {{"sae_architecture", sae_arch_name(sae->config().arch)},
                   {"sae_weights_sha256", sae->weights_sha256()},
                   {"sae_hook_name", sae->config().hook_name}};
  }
}

}  // namespace rig
