#pragma once
// What every rig program shares: one subcommand run with rig's exit codes (core/error.h),
// errors printed as "rig NAME: error: ..." for people.
#include "cli/commands.h"

namespace rig::cli {

int run_command(const char* name, int (*fn)(const Args&), int argc, char** argv);

}  // namespace rig::cli
