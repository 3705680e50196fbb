#pragma once
// SAE electrodes: an electrode with `sae:` records the SAE's latents as its units, plus one
// more unit, the norm of the reconstruction error |x - decode(encode(x))| per row.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/trial.h"
#include "sae/sae.h"

namespace rig {

// SAEs by directory (as the config names it), loaded once for electrodes and stimulation.
using SaeSet = std::map<std::string, std::shared_ptr<const Sae>>;

// The SAE of dir, loaded into set on first use.
std::shared_ptr<const Sae> sae_for(SaeSet& set, const std::string& dir);

// Loads the SAE of every electrode that has one, checks that its d_in is the site's width,
// and sets the electrode's site_width to its units (d_sae + 1). Throws ConfigError naming
// cfg.json and d_in for an SAE of another width, ModelError for a bad SAE file.
void bind_sae_electrodes(std::vector<ElectrodeSpec>& electrodes, SaeSet& set);

}  // namespace rig
