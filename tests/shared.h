#pragma once
// Finds ../shared (reference data) for tests: $RIG_SHARED, else ../shared from the project
// root. Tests that need it SKIP with a message when it is absent (a user's fresh clone).
#include <cstdlib>
#include <filesystem>
#include <string>

namespace rig::test {

// The bundled model organism (a GPT-NeoX in the repository; tests run from the project root):
// the model of every test that needs a model but no HF reference, so it runs in a fresh clone.
inline const std::filesystem::path kOrganism = "data/models/sure-neox";

// $RIG_SHARED, else the build's RIG_SHARED_DIR (compiled in), else ../shared.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("RIG_SHARED"); env && *env) return env;
#ifdef RIG_TEST_SHARED_DIR
  return RIG_TEST_SHARED_DIR;
#else
  return std::filesystem::path("..") / "shared";
#endif
}

// The path of a file under ../shared, or an empty path when it is not there.
inline std::filesystem::path shared_file(const std::string& rel) {
  auto p = shared_dir() / rel;
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

// The transformers recording that is the reference for a golden model. gptneox-tiny and
// llama-tiny: the live oracle's re-recording ($RIG_ORACLE_GOLDEN or the build's, written by
// tests/oracle/make_goldens.py), since ../shared's carry the rounded-inv_freq artifact;
// the others: ../shared/golden/<model>.h5. Empty when absent.
inline std::filesystem::path golden_recording(const std::string& model) {
  if (model == "gptneox-tiny" || model == "llama-tiny") {
    const char* dir = std::getenv("RIG_ORACLE_GOLDEN");
#ifdef RIG_TEST_ORACLE_GOLDEN
    if (!dir || !*dir) dir = RIG_TEST_ORACLE_GOLDEN;
#endif
    if (!dir || !*dir) return {};
    const auto p = std::filesystem::path(dir) / (model + ".h5");
    return std::filesystem::exists(p) ? p : std::filesystem::path();
  }
  return shared_file("golden/" + model + ".h5");
}

// How many times this process skipped work for lack of data. catch_main.cc turns a run that
// passed but skipped into exit code 77, which CTest (one test per TEST_CASE) reports as
// skipped, never passed.
inline int& skip_count() {
  static int n = 0;
  return n;
}

}  // namespace rig::test

// Notes a skip (for the exit code) and says why in Catch's output.
#define RIG_NOTE_SKIP(msg)       \
  do {                           \
    ++::rig::test::skip_count(); \
    WARN("SKIPPED: " << msg);    \
  } while (0)

// Inside a loop over golden models: skips this model (with a warning) when its reference
// recording is absent.
#define RIG_GOLDEN_OR_CONTINUE(var, model)                                                                    \
  const std::filesystem::path var = ::rig::test::golden_recording(model);                                     \
  if (var.empty() || ::rig::test::shared_file(std::string("golden/models/") + (model)).empty()) {             \
    RIG_NOTE_SKIP("no reference recording of "                                                                \
                  << model << " (../shared/golden, or the oracle's: scripts/venv.sh, then scripts/test.sh)"); \
    continue;                                                                                                 \
  }

// Inside a loop: skips this iteration (with a warning) when the file is absent.
#define RIG_SHARED_OR_CONTINUE(var, rel)                                 \
  const std::filesystem::path var = ::rig::test::shared_file(rel);       \
  if (var.empty()) {                                                     \
    RIG_NOTE_SKIP("../shared/" << rel << " not found (set RIG_SHARED)"); \
    continue;                                                            \
  }

// Use at the top of a TEST_CASE: skips it (with a warning) when the file is absent.
#define RIG_REQUIRE_SHARED(var, rel)                                     \
  const std::filesystem::path var = ::rig::test::shared_file(rel);       \
  if (var.empty()) {                                                     \
    RIG_NOTE_SKIP("../shared/" << rel << " not found (set RIG_SHARED)"); \
    return;                                                              \
  }
