#pragma once
// Finds ../shared (reference data) for tests: $RIG_SHARED, else ../shared from the project
// root. Tests that need it SKIP with a message when it is absent (a user's fresh clone).
#include <cstdlib>
#include <filesystem>
#include <string>

namespace rig::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("RIG_SHARED"); env && *env) return env;
  return std::filesystem::path("..") / "shared";
}

// The path of a file under ../shared, or an empty path when it is not there.
inline std::filesystem::path shared_file(const std::string& rel) {
  auto p = shared_dir() / rel;
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

}  // namespace rig::test

// Use at the top of a TEST_CASE: skips it (with a warning) when the file is absent.
#define RIG_REQUIRE_SHARED(var, rel)                                           \
  const std::filesystem::path var = ::rig::test::shared_file(rel);             \
  if (var.empty()) {                                                           \
    WARN("SKIPPED: ../shared/" << rel << " not found (set RIG_SHARED)");       \
    return;                                                                    \
  }
