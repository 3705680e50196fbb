#include "cli/program.h"

#include <cstdio>
#include <exception>

#include "core/error.h"

namespace rig::cli {

int run_command(const char* name, int (*fn)(const Args&), int argc, char** argv) {
  try {
    return fn(Args(argv, argv + argc));
  } catch (const Error& e) {
    std::fprintf(stderr, "rig %s: error: %s\n", name, e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rig %s: error: %s\n", name, e.what());
    return kExitFailure;
  }
}

}  // namespace rig::cli
