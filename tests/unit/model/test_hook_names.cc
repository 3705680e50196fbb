// TransformerLens's hook names (model/hook_names.cc) on every architecture of the registry:
// a table for each, every name in every layer, each at a site the model has, of the width
// the name implies, and the names a model lacks refused with their reason. Whether the values
// equal TransformerLens's is the oracle's (tests/oracle/test_transformer_lens.py).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "catch.h"
#include "model/architectures/architectures.h"
#include "model/hook_names.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int64_t kD = 16, kF = 40, kV = 64, kL = 2;

json tiny(const std::string& model_type, const std::string& cls) {
  if (model_type == "gpt2")
    return {{"architectures", {cls}}, {"model_type", model_type},
            {"vocab_size", kV},       {"n_embd", kD},
            {"n_layer", kL},          {"n_head", 2},
            {"n_positions", 64},      {"n_inner", kF}};
  json j = {{"architectures", {cls}},   {"model_type", model_type},      {"vocab_size", kV},
            {"hidden_size", kD},        {"intermediate_size", kF},       {"num_hidden_layers", kL},
            {"num_attention_heads", 2}, {"max_position_embeddings", 64}, {"bos_token_id", 0},
            {"eos_token_id", 0}};
  if (model_type == "gpt_neox") {
    j["rotary_pct"] = 0.5;
    j["hidden_act"] = "gelu";
  } else {
    j["num_key_value_heads"] = 1;
    j["head_dim"] = 8;
    j[model_type == "gemma2" ? "hidden_activation" : "hidden_act"] =
        model_type == "gemma2" ? "gelu_pytorch_tanh" : "silu";
  }
  return j;
}

rig::ModelConfig read_config(const json& j) {
  const fs::path d = fs::temp_directory_path() / ("rig-test-hook-names-" + std::to_string(::getpid()));
  fs::create_directories(d);
  std::ofstream(d / "config.json") << j.dump();
  auto c = rig::ModelConfig::from_file(d / "config.json");
  fs::remove_all(d);
  return c;
}

std::unique_ptr<rig::CausalLM> with_weights(const rig::ModelConfig& c) {
  auto m = rig::make_causal_lm(c, "config.json");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(3));
  m->visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) p.value = at::empty(p.shape).normal_(0, 0.1, gen);
  });
  return m;
}

// The width a name implies: the residual stream's, the MLP's or the vocabulary's.
int64_t expected_width(const std::string& alias) {
  if (alias.find(".mlp.hook_") != std::string::npos) return kF;
  if (alias == "unembed.hook_out") return kV;
  return kD;
}

}  // namespace

TEST_CASE("hook names: every architecture, every layer, at sites of the width the name implies", "[model]") {
  for (const auto& arch : rig::architectures()) {
    INFO(arch.model_type);
    REQUIRE(rig::has_hook_names(arch.model_type));
    json j = tiny(arch.model_type, arch.architecture);
    if (std::string(arch.model_type) == "gpt_neox") j["use_parallel_residual"] = false;  // resid_mid exists
    const rig::ModelConfig c = read_config(j);
    auto model = with_weights(c);
    const rig::SiteCatalog& cat = model->catalog();
    std::map<std::string, const rig::SiteInfo*> sites;
    for (const auto& s : cat) sites[s.name] = &s;

    const rig::SiteAliases aliases = rig::hook_aliases(c);
    std::map<std::string, int> per_name;  // blocks.{i}.X -> layers
    for (const auto& a : aliases) {
      INFO(a.alias);
      std::string generic = a.alias;
      if (generic.rfind("blocks.", 0) == 0) generic = "blocks.{i}" + generic.substr(generic.find('.', 7));
      ++per_name[generic];
      if (!a.unavailable.empty()) continue;
      auto it = sites.find(a.site);
      if (a.alias.find(".attn.hook_") != std::string::npos) {
        // Sites inside attention: absent from a rig without them (the oracle's attention test skips).
        if (it == sites.end()) continue;
      }
      REQUIRE(it != sites.end());
      const rig::SiteInfo& s = *it->second;
      CHECK(s.called);
      if (a.side == rig::Side::kInput) CHECK(s.has_input);
      if (a.alias.find(".attn.hook_") == std::string::npos)
        CHECK((a.side == rig::Side::kInput ? s.in_width : s.out_width) == expected_width(a.alias));
    }
    for (const char* name :
         {"blocks.{i}.hook_resid_pre", "blocks.{i}.hook_resid_mid", "blocks.{i}.hook_resid_post",
          "blocks.{i}.hook_attn_out", "blocks.{i}.hook_mlp_out", "blocks.{i}.mlp.hook_pre", "blocks.{i}.mlp.hook_post",
          "blocks.{i}.attn.hook_q", "blocks.{i}.attn.hook_k", "blocks.{i}.attn.hook_v", "blocks.{i}.attn.hook_z",
          "blocks.{i}.attn.hook_pattern", "blocks.{i}.attn.hook_attn_scores", "blocks.{i}.attn.hook_result",
          "blocks.{i}.attn.hook_rot_q", "blocks.{i}.attn.hook_rot_k", "blocks.{i}.ln1.hook_normalized",
          "blocks.{i}.ln2.hook_normalized"})
      CHECK(per_name[name] == kL);
    for (const char* name : {"hook_embed", "unembed.hook_in", "unembed.hook_out", "ln_final.hook_normalized"})
      CHECK(per_name[name] == 1);
  }
}

TEST_CASE("hook names a model lacks are refused with the reason", "[model]") {
  json j = tiny("gpt_neox", "GPTNeoXForCausalLM");
  j["use_parallel_residual"] = true;
  const rig::SiteAliases neox = rig::hook_aliases(read_config(j));
  const rig::SiteAliases gpt2 = rig::hook_aliases(read_config(tiny("gpt2", "GPT2LMHeadModel")));
  auto find = [](const rig::SiteAliases& as, const std::string& name) {
    for (const auto& a : as)
      if (a.alias == name) return a;
    FAIL("no alias " << name);
    return rig::SiteAlias{};
  };
  CHECK(find(neox, "blocks.1.hook_resid_mid").unavailable.find("use_parallel_residual") != std::string::npos);
  CHECK(find(neox, "blocks.1.hook_resid_pre").site == "gpt_neox.layers.1");
  CHECK(find(neox, "blocks.1.attn.hook_z").site == "gpt_neox.layers.1.attention.z");
  CHECK(find(neox, "ln_final.hook_normalized").site == "gpt_neox.final_layer_norm.normalized");
  CHECK(find(gpt2, "blocks.0.attn.hook_rot_q").unavailable.find("no rotary") != std::string::npos);
  CHECK(find(gpt2, "blocks.0.hook_resid_mid").site == "transformer.h.0.ln_2");
  CHECK(find(gpt2, "blocks.0.hook_resid_mid").side == rig::Side::kInput);
  CHECK(rig::hook_aliases(rig::ModelConfig{}).empty());  // an architecture without a table: none
}
