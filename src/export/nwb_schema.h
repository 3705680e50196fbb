#pragma once
// The NWB schema that every exported file caches in /specifications/<namespace>/<version>/,
// so that pynwb, MatNWB and the validators read the file with its own schema: the JSON text of
// data/nwb/spec/<namespace>/<version>/<source>.json (written from pynwb by
// scripts/nwb_schema.py), compiled into rig by CMakeLists.txt so rig needs no data directory.
#include <string_view>
#include <vector>

namespace rig::nwb {

struct SpecSource {
  std::string_view ns;       // "core", "hdmf-common"
  std::string_view version;  // "2.11.0"
  std::string_view source;   // "namespace", "nwb.base", ...
  std::string_view text;     // JSON
};

// All of them, by path (the generated nwb_schema_data.cc).
const std::vector<SpecSource>& cached_specs();

}  // namespace rig::nwb
