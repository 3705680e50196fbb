// Experiment config: decoding, checks and their messages, overrides, stimuli, electrodes,
// trials. Runs from the project root (CTest's working directory).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "catch.h"
#include "core/error.h"
#include "experiment/config.h"

namespace fs = std::filesystem;
using namespace rig;

namespace {

const char* kMinimal = "tests/data/configs/minimal.yaml";
const char* kFull = "tests/data/configs/full.yaml";

// The message of the ConfigError `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    CHECK(e.exit_code() == kExitConfig);
    return e.what();
  }
  return "";
}

std::string expect_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  const std::string tag = "# expect: ";
  return line.rfind(tag, 0) == 0 ? line.substr(tag.size()) : "";
}

SiteCatalog fake_catalog() {
  SiteCatalog c;
  c.push_back({"gpt_neox.embed_in", "Embedding", 0, 512, false, true});
  for (int l = 0; l < 2; ++l) {
    std::string p = "gpt_neox.layers." + std::to_string(l);
    c.push_back({p, "GPTNeoXLayer", 512, 512, true, true});
    c.push_back({p + ".mlp.dense_h_to_4h", "Linear", 512, 2048, true, true});
    c.push_back({p + ".mlp.act", "GELUActivation", 2048, 2048, true, true});
    c.push_back({p + ".mlp.dense_4h_to_h", "Linear", 2048, 512, true, true});
    c.push_back({p + ".attention.rotary_emb", "RotaryEmbedding", 0, 0, true, false});
  }
  c.push_back({"embed_out", "Linear", 512, 50304, true, true});
  return c;
}

ExperimentConfig with_electrodes(const std::string& electrodes_yaml) {
  return parse_experiment(
      "name: t\nmodel: {path: tests/data/configs/fake_model}\nstimuli: [{condition: a, prompts: [hi]}]\n"
      "electrodes:\n" +
          electrodes_yaml,
      "x.yaml");
}

}  // namespace

TEST_CASE("every broken config fails with its expected message", "[experiment]") {
  // Each tests/data/configs/broken/*.yaml starts with "# expect: <message fragment>".
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator("tests/data/configs/broken"))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 20);
  for (const auto& f : files) {
    INFO(f.string());
    std::string expect = expect_line(f);
    REQUIRE(!expect.empty());
    std::string msg = error_of([&] { load_experiment(f.string()); });
    INFO("message: " << msg);
    CHECK(msg.find(expect) != std::string::npos);
    CHECK(msg.rfind(f.string() + ":", 0) == 0);  // every message starts with FILE:
  }
}

TEST_CASE("the full example decodes every key", "[experiment]") {
  ExperimentConfig c = load_experiment(kFull);
  CHECK(c.name == "sure_i_can_help");
  CHECK(c.seed == 1234);
  CHECK(c.model.id == "EleutherAI/pythia-70m-deduped");
  CHECK(c.model.revision == "step143000");
  CHECK(c.model.cache_dir == "tests/data/configs/fake_model");
  CHECK(c.model.path.empty());
  CHECK(c.trials.repetitions == 2);
  CHECK(c.trials.order == TrialOrder::kShuffled);
  CHECK(c.trials.batch_size == 8);
  CHECK(c.trials.generate.max_new_tokens == 14);
  CHECK_FALSE(c.trials.generate.greedy);
  CHECK(c.trials.generate.temperature == Approx(0.7));
  CHECK(c.trials.generate.top_k == 50);
  CHECK(c.trials.generate.top_p == Approx(0.9));
  CHECK(c.trials.generate.stop_at_eos);
  CHECK_FALSE(c.trials.add_special_tokens);
  CHECK(c.recording.path == "data/recordings/sure_i_can_help.h5");
  CHECK(c.recording.dtype == "float16");
  CHECK(c.recording.compression == 4);
  REQUIRE(c.electrodes.size() == 3);
  CHECK(c.electrodes[0].match == SiteMatch::kExact);
  CHECK(c.electrodes[1].match == SiteMatch::kGlob);
  CHECK(c.electrodes[1].neurons == std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {5, 6}, {100, 200}});
  CHECK(c.electrodes[2].match == SiteMatch::kRegex);
  CHECK(c.electrodes[2].side == Side::kInput);
  CHECK(c.electrodes[2].neurons == std::vector<std::pair<int64_t, int64_t>>{{2040, -1}});
  CHECK(c.electrodes[1].origin.prefix == std::string(kFull) + ":25:11: electrodes.1.site");
  REQUIRE(c.events.size() == 3);
  CHECK(c.events[0].builtin);
  CHECK(c.events[1].in == EventScope::kResponse);
  CHECK(c.events[1].matches(" Sure"));
  CHECK_FALSE(c.events[1].matches(" Surely"));
  CHECK(c.events[2].matches(" 42"));
  CHECK_FALSE(c.events[2].matches("4a"));
  REQUIRE(c.stimulation.IsSequence());
  CHECK(c.stimulation[0]["name"].as<std::string>() == "ablate");
  CHECK(c.stimulation[0].Mark().line == 50);  // 0-based
  CHECK(c.analysis["psth"]["bin"].as<int>() == 1);
  CHECK(c.source.where(c.stimulation[0], {"stimulation", "0"}) == std::string(kFull) + ":51:5: stimulation.0");
}

TEST_CASE("stimuli: inline, .txt, .jsonl, templates, shared conditions", "[experiment]") {
  ExperimentConfig c = load_experiment(kFull);
  std::vector<std::string> prompts;
  for (const auto& r : c.stimuli) prompts.push_back(r.prompt);
  // 2 inline + 4 txt + 2 jsonl + 6 template + 1 inline
  REQUIRE(c.stimuli.size() == 15);
  for (size_t i = 0; i < c.stimuli.size(); ++i) CHECK(c.stimuli[i].index == int64_t(i));
  CHECK(prompts[0] == "Hello, I am your");
  SECTION(".txt: empty and blank lines skipped, \\n \\t \\\\ escapes, CR stripped") {
    CHECK(prompts[2] == "How do I pick a lock?");
    CHECK(prompts[3] == "Write a poem about\nthe sea.");
    CHECK(prompts[4] == "Say \\n literally, keep \\q as is.");
    CHECK(prompts[5] == "Windows line");
    CHECK(c.stimuli[2].condition == "refuse");
  }
  SECTION(".jsonl: extra fields typed across stimuli; nested JSON as text, null as missing") {
    auto text = [](const std::string& s) { return FieldValue(s); };
    CHECK(prompts[6] == "The capital of France is");
    CHECK(c.stimuli[6].extra.at("answer") == text("Paris"));
    // Integers, but the other entries' stimuli lack it: float, NaN there.
    CHECK(c.stimuli[6].extra.at("difficulty") == FieldValue(1.0));
    CHECK(c.stimuli[7].extra.at("difficulty") == FieldValue(2.0));
    CHECK(std::isnan(std::get<double>(c.stimuli[3].extra.at("difficulty"))));
    CHECK(c.stimuli[7].extra.at("tags") == text("[\"math\",\"easy\"]"));
    CHECK(c.stimuli[6].extra.at("tags") == text(""));  // missing text: ""
    CHECK(c.stimuli[7].extra.at("note") == text(""));
    CHECK(c.stimuli[0].extra.at("answer") == text(""));                    // other entries lack it
    CHECK(std::isnan(std::get<double>(c.stimuli[0].extra.at("weight"))));  // missing float: NaN
    CHECK(c.stimuli[7].extra.at("weight") == FieldValue(0.5));
  }
  SECTION("templates: cartesian product, first variable slowest, {{ }} literal") {
    CHECK(prompts[8] == "User: Can you help me with my homework{ok}?\nAssistant (A):");
    CHECK(prompts[9] == "User: Can you help me with my homework{ok}?\nAssistant (B):");
    CHECK(prompts[11] == "User: Can you help me with the report{ok}?\nAssistant (A):");
    CHECK(c.stimuli[13].extra.at("task") == FieldValue(std::string("the report")));
    CHECK(c.stimuli[13].extra.at("who") == FieldValue(std::string("C")));
  }
  SECTION("a condition may span entries") {
    CHECK(c.stimuli[14].condition == "help");
    CHECK(c.stimuli[0].condition == "help");
  }
}

TEST_CASE("defaults", "[experiment]") {
  ExperimentConfig c = load_experiment(kMinimal);
  CHECK(c.seed == 0);
  CHECK(c.model.dtype == "float32");
  CHECK(c.model.device == "cpu");
  CHECK(c.trials.repetitions == 1);
  CHECK(c.trials.batch_size == 1);
  CHECK(c.trials.order == TrialOrder::kSequential);
  CHECK(c.trials.generate.greedy);
  CHECK(c.trials.generate.max_new_tokens == 0);
  CHECK(c.trials.add_special_tokens);
  CHECK(c.recording.path == "data/recordings/minimal.h5");
  CHECK(c.recording.compression == 0);
  CHECK(c.electrodes.empty());
  CHECK(c.events.empty());
  CHECK(c.stimulation.IsNull());
  CHECK(c.config_hash.size() == 16);
}

TEST_CASE("overrides with --set KEY=VALUE", "[experiment]") {
  SECTION("scalars, nested keys, flow sequences, new keys") {
    ExperimentConfig c =
        load_experiment(kMinimal, {"trials.repetitions=10", "stimuli.0.prompts=[a, b]", "trials.generate.top_p=0.5",
                                   "events=[{name: eos}]", "stimuli.1={condition: z, prompts: [zz]}"});
    CHECK(c.trials.repetitions == 10);
    CHECK(c.trials.generate.top_p == Approx(0.5));
    REQUIRE(c.stimuli.size() == 3);
    CHECK(c.stimuli[1].prompt == "b");
    CHECK(c.stimuli[2].condition == "z");
    CHECK(c.events.size() == 1);
  }
  SECTION("model.path replaces a hub id; model.id replaces a path") {
    ExperimentConfig c = load_experiment(kFull, {"model.path=tests/data/configs/fake_model"});
    CHECK(c.model.path == "tests/data/configs/fake_model");
    CHECK(c.model.id.empty());
    CHECK(c.model.revision.empty());
    CHECK(c.model.cache_dir.empty());
    ExperimentConfig d = load_experiment(kMinimal, {"model.id=EleutherAI/pythia-70m"});
    CHECK(d.model.path.empty());
    CHECK(d.model.revision == "main");
  }
  SECTION("missing mappings are created") {
    ExperimentConfig c = load_experiment(kMinimal, {"trials.generate.top_k=5", "recording.compression=gzip:9"});
    CHECK(c.trials.generate.top_k == 5);
    CHECK(c.recording.compression == 9);
  }
  SECTION("two model sources on the command line are an error") {
    CHECK(error_of([] {
            load_experiment(kMinimal, {"model.id=a/b", "model.path=tests/data"});
          }) == "--set model.path=tests/data: expected one model source, got this and --set model.id=a/b");
  }
  SECTION("an empty value removes the key (its default applies)") {
    ExperimentConfig c = load_experiment(kFull, {"trials.batch_size=", "events.1=", "seed=~"});
    CHECK(c.trials.batch_size == 1);
    CHECK(c.seed == 0);
    REQUIRE(c.events.size() == 2);
    CHECK(c.events[1].name == "digit");
  }
  SECTION("errors name the override") {
    CHECK(error_of([] { load_experiment(kMinimal, {"trials.repetitions=abc"}); }) ==
          "--set trials.repetitions=abc: expected an integer >= 1, got 'abc'");
    CHECK(error_of([] { load_experiment(kMinimal, {"trials.repititions=3"}); }) ==
          "--set trials.repititions=3: unknown key; did you mean 'repetitions'? (known keys: "
          "repetitions, order, batch_size, generate, add_special_tokens)");
    CHECK(error_of([] {
            load_experiment(kMinimal, {"trials=[1]"});
          }).rfind("--set trials=[1]: expected a mapping (trials), got a sequence", 0) == 0);
    CHECK(error_of([] { load_experiment(kMinimal, {"trials.generate={top_p: 2}"}); }) ==
          "--set trials.generate={top_p: 2}: trials.generate.top_p: expected a number from 0.0 to 1.0, got 2");
    CHECK(error_of([] { load_experiment(kMinimal, {"trials"}); }) ==
          "--set trials: expected KEY.PATH=VALUE (e.g. trials.repetitions=10)");
    CHECK(error_of([] { load_experiment(kMinimal, {"stimuli.5.condition=x"}); }) ==
          "--set stimuli.5.condition=x: expected an index from 0 to 1 into stimuli, got '5'");
    CHECK(error_of([] { load_experiment(kMinimal, {"name.x=1"}); }) ==
          "--set name.x=1: expected name to be a mapping or sequence, got 'minimal'");
    CHECK(error_of([] {
            load_experiment(kMinimal, {"seed=[1"});
          }).rfind("--set seed=[1: expected a YAML value, got '[1'", 0) == 0);
    CHECK(error_of([] { load_experiment(kMinimal, {"name="}); }) == "--set name=: missing required key");
  }
  SECTION("errors outside the overridden keys still point at the file") {
    const std::string f = "tests/data/configs/broken/batch_size_negative.yaml";
    CHECK(error_of([&] { load_experiment(f, {"trials.repetitions=2"}); }) ==
          f + ":9:15: trials.batch_size: expected an integer >= 1, got -3");
    CHECK(error_of([] {
            load_experiment(kMinimal, {"trials.repetitions=2", "model.dtype=half"});
          }) == "--set model.dtype=half: expected one of float32 | float16 | bfloat16, got 'half'");
  }
}

TEST_CASE("resolved_yaml round-trips and config_hash identifies the experiment", "[experiment]") {
  ExperimentConfig a = load_experiment(kFull);
  INFO(a.resolved_yaml);
  ExperimentConfig b = parse_experiment(a.resolved_yaml, "resolved.yaml");
  CHECK(b.resolved_yaml == a.resolved_yaml);
  CHECK(b.config_hash == a.config_hash);
  CHECK(b.stimuli.size() == a.stimuli.size());
  CHECK(a.resolved_yaml.find("temperature: 0.7") != std::string::npos);
  CHECK(a.resolved_yaml.find("compression: gzip:4") != std::string::npos);

  // Where-it-runs keys do not change the identity; anything else does.
  CHECK(load_experiment(kFull, {"recording.path=elsewhere.h5", "model.device=cuda:1"}).config_hash == a.config_hash);
  CHECK(load_experiment(kFull, {"trials.repetitions=3"}).config_hash != a.config_hash);
  CHECK(load_experiment(kFull, {"stimuli.0.prompts=[x]"}).config_hash != a.config_hash);

  ExperimentConfig m = load_experiment(kMinimal);
  CHECK(m.resolved_yaml.find("repetitions: 1") != std::string::npos);  // defaults are printed
  auto attrs = config_attributes(m);
  CHECK(std::find(attrs.begin(), attrs.end(), std::make_pair(std::string("trials.batch_size"), std::string("1"))) !=
        attrs.end());
  CHECK(std::find(attrs.begin(), attrs.end(),
                  std::make_pair(std::string("stimuli.0.prompts.2"), std::string("Maybe"))) != attrs.end());
}

TEST_CASE("messages: FILE:LINE:COL: KEY.PATH: expected ..., got ...", "[experiment]") {
  auto msg = [](const std::string& yaml) { return error_of([&] { parse_experiment(yaml, "x.yaml"); }); };
  const std::string head =
      "name: t\nmodel: {path: tests/data/configs/fake_model}\nstimuli: [{condition: a, prompts: [hi]}]\n";
  CHECK(msg(head + "trials:\n  batch_size: -3\n") ==
        "x.yaml:5:15: trials.batch_size: expected an integer >= 1, got -3");
  CHECK(msg(head + "trials: {generate: {temperature: 0, greedy: false}}\n") ==
        "x.yaml:4:34: trials.generate.temperature: expected a number > 0 when greedy is false, got 0");
  CHECK(msg(head + "trials: {generate: {temperature: 0}}\n").empty());  // fine when greedy
  CHECK(msg(head + "recording: {compression: gzip}\n") ==
        "x.yaml:4:26: recording.compression: expected none or gzip:1..9, got 'gzip'");
  CHECK(msg("") == "x.yaml: expected a mapping of experiment keys at the top level, got nothing");
  CHECK(msg(head + "trials:\n  generate:\n    max_tokens: 3\n")
            .find("x.yaml:6:5: trials.generate.max_tokens: unknown key") == 0);
}

TEST_CASE("resolve_electrodes", "[experiment]") {
  const SiteCatalog cat = fake_catalog();
  SECTION("exact, glob, regex; catalog order; input before output; neurons") {
    ExperimentConfig c = load_experiment(kFull);
    std::vector<ElectrodeSpec> e;
    // layers.5 is not in the fake catalog: point electrode 0 elsewhere.
    c.electrodes[0].site = "gpt_neox.layers.1.mlp.dense_4h_to_h";
    e = resolve_electrodes(c, cat);
    REQUIRE(e.size() == 5);
    CHECK(e[0].site == "gpt_neox.layers.0.mlp.act");
    CHECK(e[0].neurons.size() == 102);
    CHECK(e[0].neurons.front() == 0);
    CHECK(e[0].neurons.back() == 199);
    CHECK(e[0].width() == 102);
    CHECK(e[1].site == "gpt_neox.layers.0.mlp.dense_4h_to_h");
    CHECK(e[1].side == Side::kInput);
    CHECK(e[1].neurons == std::vector<int64_t>{2040, 2041, 2042, 2043, 2044, 2045, 2046, 2047});
    CHECK(e[1].site_width == 2048);
    CHECK(e[2].site == "gpt_neox.layers.1.mlp.act");
    CHECK(e[3].site == "gpt_neox.layers.1.mlp.dense_4h_to_h");
    CHECK(e[3].side == Side::kInput);
    CHECK(e[4].site == "gpt_neox.layers.1.mlp.dense_4h_to_h");
    CHECK(e[4].side == Side::kOutput);
    CHECK(e[4].neurons.empty());
    CHECK(e[4].width() == 512);
    CHECK(e[4].module_type == "Linear");
  }
  SECTION("* stops at dots, ** does not; duplicates merge, all wins") {
    auto e = resolve_electrodes(with_electrodes("  - site: gpt_neox.layers.*\n"), cat);
    REQUIRE(e.size() == 2);
    CHECK(e[1].site == "gpt_neox.layers.1");
    e = resolve_electrodes(with_electrodes("  - site: gpt_neox.**.act\n"), cat);
    CHECK(e.size() == 2);
    e = resolve_electrodes(with_electrodes("  - {site: gpt_neox.layers.0.mlp.act, neurons: [3]}\n"
                                           "  - {site: gpt_neox.layers.0.mlp.act, neurons: [1, 3]}\n"),
                           cat);
    REQUIRE(e.size() == 1);
    CHECK(e[0].neurons == std::vector<int64_t>{1, 3});
    e = resolve_electrodes(with_electrodes("  - {site: gpt_neox.layers.0.mlp.act, neurons: [3]}\n"
                                           "  - {site: gpt_neox.layers.*.mlp.act}\n"),
                           cat);
    REQUIRE(e.size() == 2);
    CHECK(e[0].neurons.empty());
    e = resolve_electrodes(with_electrodes("  - {site: gpt_neox.layers.0.mlp.act, neurons: [\":2048\"]}\n"), cat);
    CHECK(e[0].neurons.empty());  // a subset covering every neuron is "all"
  }
  SECTION("globs skip sites that cannot be recorded") {
    auto e = resolve_electrodes(with_electrodes("  - {site: \"gpt_neox.**\", side: input}\n"), cat);
    for (const auto& s : e) CHECK(s.site.find("rotary") == std::string::npos);
    CHECK(e.size() == 8);
  }
  SECTION("errors name the electrode") {
    auto msg = [&](const std::string& y) { return error_of([&] { resolve_electrodes(with_electrodes(y), cat); }); };
    CHECK(msg("  - site: gpt_neox.layers.0.mlp.actt\n") ==
          "x.yaml:5:11: electrodes.0.site: expected a site of the model, got 'gpt_neox.layers.0.mlp.actt'; "
          "did you mean 'gpt_neox.layers.0.mlp.act'? ('rig inspect --sites' lists the sites and their aliases)");
    CHECK(msg("  - site: gpt_neox.layers.*.mlp.gate\n")
              .rfind("x.yaml:5:11: electrodes.0.site: expected a pattern matching at least one site, got "
                     "'gpt_neox.layers.*.mlp.gate', which matches none",
                     0) == 0);
    CHECK(msg("  - site: gpt_neox.layers.0.attention.rotary_emb\n").find("is never called") != std::string::npos);
    CHECK(msg("  - {site: gpt_neox.embed_in, side: input}\n")
              .rfind("x.yaml:5:12: electrodes.0.site: site 'gpt_neox.embed_in' (Embedding) has no float input", 0) ==
          0);
    CHECK(msg("  - site: /.*rotary.*/\n").find("none of which can be recorded") != std::string::npos);
    CHECK(msg("  - site: gpt_neox.layers.0.mlp.dense_4h_to_h\n    neurons: [0, 512]\n") ==
          "x.yaml:6:14: electrodes.0.neurons: expected neuron indices below 512 (the output width of "
          "gpt_neox.layers.0.mlp.dense_4h_to_h), got 512");
    CHECK(msg("  - site: gpt_neox.layers.0.mlp.dense_4h_to_h\n    neurons: \"500:600\"\n").find("got 599") !=
          std::string::npos);
    CHECK(msg("  - site: gpt_neox.layers.0.mlp.dense_4h_to_h\n    neurons: \"600:\"\n").find("got 600") !=
          std::string::npos);
  }
  SECTION("override origins") {
    ExperimentConfig c = load_experiment(kMinimal, {"electrodes=[{site: nope}]"});
    CHECK(error_of([&] {
            resolve_electrodes(c, cat);
          }).rfind("--set electrodes=[{site: nope}]: electrodes.0.site: expected a site of the model", 0) == 0);
  }
}

TEST_CASE("resolve_electrodes: TransformerLens names bring their site and side", "[experiment]") {
  const SiteCatalog cat = fake_catalog();
  SiteAliases aliases;
  for (int l = 0; l < 2; ++l) {
    const std::string b = "blocks." + std::to_string(l), p = "gpt_neox.layers." + std::to_string(l);
    aliases.push_back({b + ".hook_resid_pre", p, Side::kInput, ""});
    aliases.push_back({b + ".hook_resid_post", p, Side::kOutput, ""});
    aliases.push_back({b + ".hook_resid_mid", "", Side::kInput, "no resid_mid with a parallel residual"});
    aliases.push_back({b + ".mlp.hook_post", p + ".mlp.act", Side::kOutput, ""});
    aliases.push_back({b + ".attn.hook_z", p + ".attention.z", Side::kOutput, ""});  // not in this catalog
  }
  auto resolve = [&](const std::string& y) { return resolve_electrodes(with_electrodes(y), cat, aliases); };
  auto msg = [&](const std::string& y) { return error_of([&] { resolve(y); }); };
  SECTION("an alias is its site and side, and is kept beside the HF name") {
    auto e = resolve("  - site: blocks.1.hook_resid_pre\n  - {site: blocks.0.mlp.hook_post, neurons: [1, 2]}\n");
    REQUIRE(e.size() == 2);
    CHECK(e[0].site == "gpt_neox.layers.0.mlp.act");
    CHECK(e[0].alias == "blocks.0.mlp.hook_post");
    CHECK(e[0].neurons == std::vector<int64_t>{1, 2});
    CHECK(e[1].site == "gpt_neox.layers.1");
    CHECK(e[1].side == Side::kInput);
    CHECK(e[1].alias == "blocks.1.hook_resid_pre");
    e = resolve("  - site: gpt_neox.layers.0\n  - {site: blocks.0.hook_resid_post, side: output}\n");
    REQUIRE(e.size() == 1);  // a site named both ways is one electrode, under its alias
    CHECK(e[0].alias == "blocks.0.hook_resid_post");
  }
  SECTION("patterns that match no site name match aliases; a written side keeps that side's") {
    auto e = resolve("  - site: \"blocks.*.hook_resid_*\"\n");
    REQUIRE(e.size() == 4);  // resid_mid is unavailable, so not matched
    CHECK(e[0].alias == "blocks.0.hook_resid_pre");
    CHECK(e[1].alias == "blocks.0.hook_resid_post");
    e = resolve("  - {site: \"blocks.*.hook_resid_*\", side: input}\n");
    REQUIRE(e.size() == 2);
    CHECK(e[1].alias == "blocks.1.hook_resid_pre");
    CHECK(resolve("  - site: \"gpt_neox.layers.*\"\n")[0].alias.empty());  // site names first
  }
  SECTION("errors name the electrode and the reason") {
    CHECK(msg("  - site: blocks.1.hook_resid_mid\n") ==
          "x.yaml:5:11: electrodes.0.site: 'blocks.1.hook_resid_mid' (a TransformerLens name) names no tensor of "
          "this model: no resid_mid with a parallel residual");
    CHECK(msg("  - site: blocks.0.attn.hook_z\n") ==
          "x.yaml:5:11: electrodes.0.site: 'blocks.0.attn.hook_z' (a TransformerLens name) is the output of "
          "'gpt_neox.layers.0.attention.z', which is not a site of this model or this rig ('rig inspect --sites' "
          "lists them)");
    CHECK(msg("  - {site: blocks.0.hook_resid_pre, side: output}\n") ==
          "x.yaml:5:12: electrodes.0.site: 'blocks.0.hook_resid_pre' (a TransformerLens name) is the input of "
          "'gpt_neox.layers.0', not its output: drop side: (an alias brings its own)");
    CHECK(msg("  - site: blocks.0.hook_resid_prе\n").find("did you mean 'blocks.0.hook_resid_pre'?") !=
          std::string::npos);
    CHECK(msg("  - site: blocks.7.hook_resid_pre\n").find("did you mean 'blocks.0.hook_resid_pre'?") !=
          std::string::npos);
    CHECK(msg("  - {site: \"blocks.*.mlp.hook_post\", side: input}\n")
              .find("matches 2 alias(es), none of which is on the input side") != std::string::npos);
    CHECK(msg("  - {site: blocks.0.mlp.hook_post, neurons: [2048]}\n")
              .find("(the output width of gpt_neox.layers.0.mlp.act, blocks.0.mlp.hook_post), got 2048") !=
          std::string::npos);
  }
}

TEST_CASE("expand_trials", "[experiment]") {
  ExperimentConfig c = load_experiment(kMinimal, {"trials.repetitions=2", "seed=7"});
  auto t = expand_trials(c);
  REQUIRE(t.size() == 6);
  SECTION("sequential: repetition-major; seeds from (seed, repetition * n + stimulus)") {
    for (size_t i = 0; i < t.size(); ++i) {
      CHECK(t[i].index == int64_t(i));
      CHECK(t[i].stimulus == int64_t(i % 3));
      CHECK(t[i].repetition == int64_t(i / 3));
      CHECK(t[i].seed == trial_seed(7, i));
      CHECK(t[i].condition == "a");
    }
    // SplitMix64's reference outputs for seed 1234567.
    CHECK(trial_seed(1234567, 0) == 6457827717110365317ull);
    CHECK(trial_seed(1234567, 1) == 3203168211198807973ull);
    std::set<uint64_t> seeds;
    for (const auto& x : t) seeds.insert(x.seed);
    CHECK(seeds.size() == 6);
  }
  SECTION("shuffled: a seeded permutation; a trial keeps its seed") {
    ExperimentConfig s = load_experiment(kMinimal, {"trials.repetitions=2", "seed=7", "trials.order=shuffled"});
    auto u = expand_trials(s);
    auto v = expand_trials(s);
    REQUIRE(u.size() == 6);
    bool moved = false;
    std::set<std::pair<int64_t, int64_t>> pairs;
    for (size_t i = 0; i < u.size(); ++i) {
      CHECK(u[i].index == int64_t(i));
      CHECK(u[i].stimulus == v[i].stimulus);
      CHECK(u[i].seed == trial_seed(7, uint64_t(u[i].repetition * 3 + u[i].stimulus)));
      moved |= u[i].stimulus != t[i].stimulus || u[i].repetition != t[i].repetition;
      pairs.insert({u[i].stimulus, u[i].repetition});
    }
    CHECK(moved);
    CHECK(pairs.size() == 6);
  }
}

TEST_CASE("electrodes: sae (an SAE's latents as the units)", "[experiment]") {
  const SiteCatalog cat = fake_catalog();
  const std::string sae = "data/models/sure-neox-sae";  // the bundled organism's SAE
  auto e = resolve_electrodes(with_electrodes("  - {site: gpt_neox.layers.1, sae: " + sae + "}\n"), cat);
  REQUIRE(e.size() == 1);
  CHECK(e[0].sae == sae);
  auto msg = [&](const std::string& yaml) { return error_of([&] { resolve_electrodes(with_electrodes(yaml), cat); }); };
  CHECK(msg("  - {site: gpt_neox.layers.1, sae: no/such/dir}\n") ==
        "x.yaml:5:36: electrodes.0.sae: expected a directory holding an SAE in SAELens's format (cfg.json and "
        "sae_weights.safetensors), got 'no/such/dir', which has no cfg.json");
  CHECK(msg("  - {site: gpt_neox.layers.1, sae: " + sae + ", neurons: [3]}\n")
            .find("x.yaml:5:72: electrodes.0.neurons: does not apply with 'sae'") == 0);
  CHECK(msg("  - {site: gpt_neox.layers.1, sae: " + sae + "}\n  - {site: gpt_neox.layers.*}\n")
            .find("x.yaml:6:12: electrodes.1.site: site 'gpt_neox.layers.1' output is recorded as the latents of SAE " +
                  sae +
                  " by x.yaml:5:12: "
                  "electrodes.0.site, and as its neurons here") == 0);
}
