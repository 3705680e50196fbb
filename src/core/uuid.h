#pragma once
// Random identifiers for the files rig writes (NWB's `identifier`): a file names itself, and a
// file made from others (a merge, an analysis) names its sources by theirs.
#include <string>

namespace rig {

// A random (version 4) UUID in its canonical text form, e.g.
// "1b4e28ba-2fa1-41d2-883f-0016d3cca427", from the kernel's random source.
std::string new_uuid();

}  // namespace rig
