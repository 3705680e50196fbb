// `sweep:`: variants (cartesian product, last key fastest), per-variant output paths and
// hashes, and errors at the sweep key's file:line:col.
#include <filesystem>
#include <string>

#include "catch.h"
#include "core/error.h"
#include "experiment/config.h"

using namespace rig;

namespace {

const std::string kBase =
    "name: sw\n"
    "model: {path: tests}\n"
    "stimuli: [{condition: a, prompts: [hi]}]\n"
    "recording: {path: out/run.h5}\n";

std::string error_of(const std::string& yaml, const std::vector<std::string>& sets = {}, int64_t k = -1) {
  try {
    parse_experiment(yaml, "x.yaml", sets, k);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sweep: variants are the cartesian product, last key fastest") {
  const std::string y = kBase + "sweep:\n  model.dtype: [float32, bfloat16]\n  trials.repetitions: [1, 3]\n";
  ExperimentConfig none = parse_experiment(y, "x.yaml");
  CHECK(none.sweep_index == -1);
  REQUIRE(sweep_size(none) == 4);
  CHECK(sweep_label(none, 1) == "model.dtype=float32, trials.repetitions=3");
  CHECK(sweep_label(none, 2) == "model.dtype=bfloat16, trials.repetitions=1");
  ExperimentConfig v3 = parse_experiment(y, "x.yaml", {}, 3);
  CHECK(v3.sweep_index == 3);
  CHECK(v3.model.dtype == "bfloat16");
  CHECK(v3.trials.repetitions == 3);
  CHECK(v3.recording.path == "out/run.bfloat16_3.h5");
  CHECK(v3.resolved_yaml.find("sweep") == std::string::npos);
  ExperimentConfig v0 = parse_experiment(y, "x.yaml", {}, 0);
  CHECK(v0.config_hash != v3.config_hash);
  CHECK(v0.recording.path == "out/run.float32_1.h5");
}

TEST_CASE("sweep: nested keys equal dotted keys, and path values name files by their last component") {
  const std::string nested = kBase + "sweep: {model: {dtype: [float32, float16]}}\n";
  const std::string dotted = kBase + "sweep: {model.dtype: [float32, float16]}\n";
  CHECK(parse_experiment(nested, "x.yaml", {}, 1).config_hash == parse_experiment(dotted, "x.yaml", {}, 1).config_hash);
  // Checkpoint directories (model.path must exist when the config loads).
  const auto ck = std::filesystem::temp_directory_path() / "rig-test-sweep";
  for (const char* d : {"step1000", "step2000", "a/ck", "b/ck"}) std::filesystem::create_directories(ck / d);
  const std::string paths =
      kBase + "sweep: {model.path: [" + (ck / "step1000/").string() + ", " + (ck / "step2000").string() + "]}\n";
  ExperimentConfig v = parse_experiment(paths, "x.yaml", {}, 0);
  CHECK(v.model.path == (ck / "step1000/").string());
  CHECK(v.recording.path == "out/run.step1000.h5");
  // model.path is a where-it-runs key, but the variant still changes the hash.
  CHECK(v.config_hash != parse_experiment(paths, "x.yaml", {}, 1).config_hash);
  // Colliding suffixes fall back to the variant number.
  const std::string same =
      kBase + "sweep: {model.path: [" + (ck / "a/ck").string() + ", " + (ck / "b/ck").string() + "]}\n";
  CHECK(parse_experiment(same, "x.yaml", {}, 1).recording.path == "out/run.sweep-1.h5");
}

TEST_CASE("sweep: errors name the sweep key or value with file:line:col") {
  const std::string unknown = kBase + "sweep:\n  model.revison: [a]\n";
  CHECK(error_of(unknown) ==
        "x.yaml:6:3: sweep.model.revison (sweep variant 0: model.revison=a): unknown key; "
        "did you mean 'revision'? (known keys: id, revision, cache_dir, path, download, dtype, device)");
  const std::string bad_value = kBase + "sweep:\n  trials.repetitions: [2, -1]\n";
  CHECK(error_of(bad_value).rfind("x.yaml:6:27: trials.repetitions (sweep variant 1: trials.repetitions=-1): "
                                  "expected an integer >= 1, got -1",
                                  0) == 0);
  CHECK(error_of(kBase + "sweep:\n  trials.repetitions: 3\n")
            .find("x.yaml:6:23: sweep.trials.repetitions: expected a "
                  "non-empty sequence of values") == 0);
  CHECK(error_of(kBase + "sweep: [1, 2]\n").find("x.yaml:5:8: sweep: expected a mapping of key paths") == 0);
  CHECK(error_of(kBase, {}, 0).find("requested, but the config has no sweep: key") != std::string::npos);
  CHECK(error_of(kBase + "sweep: {seed: [1, 2]}\n", {}, 2).find("expected 0..1 (2 variants)") != std::string::npos);
  // --set sweep.KEY=... makes (or replaces) an axis.
  ExperimentConfig c = parse_experiment(kBase, "x.yaml", {"sweep.seed=[5, 6, 7]"}, 2);
  CHECK(c.seed == 7);
}
