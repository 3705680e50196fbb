// The analysis: section is decoded by the experiment config's schema engine
// (experiment/schema.h): keys, defaults, ranges, and messages of the same form as the
// experiment's ("FILE:LINE:COL: KEY.PATH: ..."), did you mean included.
#include <regex>
#include <string>

#include <yaml-cpp/yaml.h>

#include "analysis/analysis_config.h"
#include "catch.h"
#include "core/error.h"
#include "experiment/config.h"

using namespace rig::analysis;

namespace {

// The error of decoding `text` (a YAML file whose analysis: key is decoded), "" if none.
std::string error(const std::string& text) {
  try {
    const YAML::Node root = YAML::Load(text);
    parse_analysis(root["analysis"], "a.yaml", "analysis");
  } catch (const rig::ConfigError& e) {
    return e.what();
  }
  return "";
}

bool matches(const std::string& s, const std::string& re) { return std::regex_search(s, std::regex(re)); }

}  // namespace

TEST_CASE("analysis: decodes every key's short and long form, defaults kept", "[analysis][config]") {
  const AnalysisConfig d = parse_analysis(YAML::Node(), "a.yaml", "analysis");
  CHECK(d.event == "prompt_onset");
  CHECK(d.post == 15);
  CHECK(d.folds == 5);
  CHECK(d.smoothing == Smoothing::kNone);
  CHECK(d.baseline == Baseline::kNone);
  CHECK(!d.window_set);

  const YAML::Node root = YAML::Load(
      "analysis:\n"
      "  sites: [gpt_neox.layers.0, {site: gpt_neox.layers.1, side: input}]\n"
      "  conditions: A\n"
      "  group_by: [f, g]\n"
      "  pre: 2\n  post: 4\n  bin: 2\n"
      "  smoothing: {kind: gaussian, width: 1.5}\n"
      "  window: [0, 3]\n"
      "  baseline: {window: [-2, -1], mode: zscore}\n"
      "  contrast: [A, B]\n"
      "  cluster_alpha: 0.01\n  seed: 7\n"
      "  pca_center: cross_condition\n"
      "  normalize: {kind: soft, c: 2}\n"
      "  folds: 0\n  time_resolved: true\n  generalization: false\n  threads: 2\n");
  const AnalysisConfig c = parse_analysis(root["analysis"], "a.yaml", "analysis");
  REQUIRE(c.sites.size() == 2);
  CHECK(c.sites[0].any_side);
  CHECK(c.sites[0].where.prefix == "a.yaml:2:11: analysis.sites.0");
  CHECK((!c.sites[1].any_side && c.sites[1].side == rig::Side::kInput && c.sites[1].site == "gpt_neox.layers.1"));
  CHECK(c.conditions == std::vector<std::string>{"A"});
  CHECK(c.conditions_where.prefix == "a.yaml:3:15: analysis.conditions");
  CHECK(c.group_by == std::vector<std::string>{"f", "g"});
  CHECK((c.pre == 2 && c.post == 4 && c.bin == 2));
  CHECK((c.smoothing == Smoothing::kGaussian && c.smooth_width == 1.5));
  CHECK((c.window_set && c.window_start == 0 && c.window_stop == 3));
  CHECK((c.baseline == Baseline::kZscore && c.baseline_start == -2 && c.baseline_stop == -1));
  CHECK((c.cluster_alpha == 0.01 && c.seed == 7u && c.folds == 0 && c.threads == 2));
  CHECK((c.time_resolved && !c.generalization));
  CHECK(c.pca_center == PcaCenter::kCrossCondition);
  CHECK((c.normalize == Normalize::kSoft && c.soft_c == 2));

  const YAML::Node shorts = YAML::Load("smoothing: boxcar\nbaseline: [0, 0]\nnormalize: zscore\n");
  const AnalysisConfig s = parse_analysis(shorts, "b.yaml", "");
  CHECK((s.smoothing == Smoothing::kBoxcar && s.smooth_width == 3));
  CHECK((s.baseline == Baseline::kSubtract && s.baseline_start == 0 && s.baseline_stop == 0));
  CHECK(s.normalize == Normalize::kZscore);
}

TEST_CASE("analysis: errors have the experiment config's form", "[analysis][config]") {
  // The experiment's own unknown key and wrong type, for the form.
  auto experiment_error = [](const std::string& extra) -> std::string {
    try {
      rig::parse_experiment("name: t\nmodel: {path: '.'}\nstimuli: [{condition: a, prompts: [x]}]\n" + extra, "x.yaml");
    } catch (const rig::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(matches(experiment_error("trials: {repetitons: 2}\n"),
                "^x\\.yaml:4:10: trials\\.repetitons: unknown key; did you mean 'repetitions'\\? \\(known keys: "));
  CHECK(matches(experiment_error("trials: {repetitions: [2]}\n"),
                "^x\\.yaml:4:23: trials\\.repetitions: expected an integer >= 1, got a sequence$"));

  std::string e = error("analysis:\n  bins: 3\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:3: analysis\\.bins: unknown key; did you mean 'bin'\\? \\(known keys: sites, "));
  e = error("analysis:\n  pre: [2]\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:8: analysis\\.pre: expected an integer from 0 to 1048576, got a sequence$"));
  e = error("analysis:\n  smoothing: {kind: boxcar, widht: 3}\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:29: analysis\\.smoothing\\.widht: unknown key; did you mean 'width'\\?"));
  e = error("analysis:\n  smoothing: {kind: boxcar, width: 2.5}\n");
  INFO(e);
  CHECK(matches(
      e, "^a\\.yaml:2:36: analysis\\.smoothing\\.width: expected a whole number of rows for boxcar, got 2\\.5$"));
  e = error("analysis:\n  sites: [{site: x, sid: input}]\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:21: analysis\\.sites\\.0\\.sid: unknown key; did you mean 'side'\\?"));
  e = error("analysis:\n  sites: [{site: x, side: both}]\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:27: analysis\\.sites\\.0\\.side: expected one of output \\| input, got 'both'$"));
  e = error("analysis:\n  window: [0, x]\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:15: analysis\\.window\\.1: expected an integer from -1048576 to 1048576, got 'x'$"));
  e = error("analysis:\n  time_resolved: 1\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:18: analysis\\.time_resolved: expected true or false, got 1$"));
  e = error("analysis:\n  pre: 1\n  pre: 2\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:3:3: analysis\\.pre: duplicate key \\(first at line 2\\)$"));
  // A required key misspelt: the misspelling, not the absence, is reported.
  e = error("analysis:\n  baseline: {windw: [-1, 0]}\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:14: analysis\\.baseline\\.windw: unknown key; did you mean 'window'\\?"));
  e = error("analysis:\n  baseline: {mode: zscore}\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:2:13: analysis\\.baseline\\.window: missing required key$"));
  e = error("analysis: [1]\n");
  INFO(e);
  CHECK(matches(e, "^a\\.yaml:1:11: analysis: expected a mapping of analysis keys, got a sequence$"));
  // A file whose top level is the mapping itself: key paths without the prefix.
  try {
    parse_analysis(YAML::Load("folds: 1\n"), "b.yaml", "");
    FAIL("no error");
  } catch (const rig::ConfigError& err) {
    CHECK(std::string(err.what()) == "b.yaml:1:8: folds: expected 0 (no decoding) or at least 2 folds, got 1");
  }
}
