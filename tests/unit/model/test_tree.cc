// The module tree equals HF's: print(model) and named_modules() of transformers 5, as
// ../shared/golden/models/*/module_tree.txt holds them (GPT-NeoX's head is embed_out, the
// checkpoint's name, where transformers 5 says lm_head).
#include <fstream>
#include <sstream>

#include "catch.h"
#include "model/architectures/architectures.h"
#include "model/generate.h"
#include "model/weights.h"
#include "shared.h"

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("print(model) and named_modules() match transformers", "[model]") {
  for (const char* m : {"gptneox-tiny", "gpt2-tiny", "llama-tiny"}) {
    RIG_REQUIRE_SHARED(tree_path, std::string("golden/models/") + m + "/module_tree.txt");
    const auto dir = tree_path.parent_path();
    const auto config = rig::ModelConfig::from_file(dir / "config.json");
    auto model = rig::make_causal_lm(config, "config.json");
    std::string golden = read(tree_path);
    // module_tree.txt: print(model), then "name<TAB>type" lines from named_modules().
    const size_t split = golden.find("\n\t");
    REQUIRE(split != std::string::npos);
    std::string printed = golden.substr(0, split);
    std::string names = golden.substr(split + 1);
    if (std::string(m) == "gptneox-tiny") {
      printed = replace_all(printed, "(lm_head)", "(embed_out)");
      names = replace_all(names, "\nlm_head\t", "\nembed_out\t");
    }
    INFO(m);
    CHECK(model->repr() == printed);
    std::string ours;
    model->visit([&](rig::Module& mod) { ours += mod.path() + "\t" + mod.type() + "\n"; });
    CHECK(ours == names);
  }
}

TEST_CASE("generation stops at EOS when asked, and its row is the last", "[model]") {
  const std::filesystem::path dir = rig::test::kOrganism;
  const auto config = rig::ModelConfig::from_file(dir / "config.json");
  std::shared_ptr<rig::CausalLM> model = rig::make_causal_lm(config, "config.json");
  rig::load_weights(*model, dir, at::kFloat, at::kCPU);
  rig::GenerateOptions o;
  o.max_new_tokens = 8;
  const std::vector<std::vector<int64_t>> prompts = {{41, 70, 397, 80}, {52, 649, 13}};
  const auto free_run = rig::generate(*model, prompts, o, {0, 0}, nullptr, at::kCPU);
  // Make the third token sequence 0 generates the end-of-sequence token.
  o.eos_id = free_run[0].new_ids[2];
  o.stop_at_eos = true;
  int calls = 0;
  std::vector<int> rows0;
  const auto res = rig::generate(*model, prompts, o, {0, 0}, nullptr, at::kCPU, [&](const rig::StepInfo& s) {
    ++calls;
    rows0.push_back(s.has_row[0]);
  });
  CHECK(res[0].finish_reason == "eos");
  CHECK(res[0].new_ids.size() == 3);
  CHECK(std::vector<int64_t>(free_run[0].new_ids.begin(), free_run[0].new_ids.begin() + 3) == res[0].new_ids);
  // Sequence 1 goes on (unless it happens to produce the same token).
  const bool one_stopped = res[1].finish_reason == "eos";
  if (!one_stopped) CHECK(res[1].new_ids == free_run[1].new_ids);
  // Rows of sequence 0: the prompt call, then one call per generated token (the EOS too).
  int r0 = 0;
  for (int r : rows0) r0 += r;
  CHECK(r0 == 1 + 3);
}

TEST_CASE("sampling: a sequence's tokens depend on its seed only, not its batch", "[model]") {
  RIG_REQUIRE_SHARED(dir, "golden/models/llama-tiny");
  const auto config = rig::ModelConfig::from_file(dir / "config.json");
  std::shared_ptr<rig::CausalLM> model = rig::make_causal_lm(config, "config.json");
  rig::load_weights(*model, dir, at::kFloat, at::kCPU);
  rig::GenerateOptions o;
  o.max_new_tokens = 10;
  o.greedy = false;
  o.temperature = 1.5;
  o.top_k = 100;
  o.top_p = 0.9;
  const std::vector<int64_t> p = {1, 349, 295, 321};
  const auto alone = rig::generate(*model, {p}, o, {42}, nullptr, at::kCPU);
  const auto batch = rig::generate(*model, {{1, 5, 6, 7, 8, 9, 10}, p, p}, o, {7, 42, 43}, nullptr, at::kCPU);
  CHECK(batch[1].new_ids == alone[0].new_ids);
  CHECK(batch[2].new_ids != alone[0].new_ids);  // another seed, another sample (10 tokens at T=1.5)
}
