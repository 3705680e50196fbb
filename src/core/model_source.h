#pragma once
// Which model, in one struct: the config's `model:` section (its field list is in
// experiment/config.cc), the CLI's MODEL / --revision / --cache-dir / --dtype / --device
// (cli/model_args.h), and what model/loader.h's load_model takes.
#include <string>

namespace rig {

struct ModelSource {
  std::string path;               // a local HF-format model directory, or (exactly one of path / id) ...
  std::string id;                 // ... a hub id (ORG/NAME) ...
  std::string revision = "main";  // ... at this revision ...
  std::string cache_dir;          // ... in this HF cache directory ("" = the environment's)
  bool download = false;          // with id: `rig run` fetches missing files first (src/hub), else refuses
  std::string dtype = "float32";  // compute dtype: float32 | float16 | bfloat16
  std::string device = "cpu";     // cpu | cuda | cuda:N
};

}  // namespace rig
