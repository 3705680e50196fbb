// Gemma 2 (architectures/gemma2.cc): the module tree and site names of transformers 5.17's
// Gemma2ForCausalLM, Gemma2Config's defaults as rig reads them, and where the two
// soft-cappings sit. Its numbers against transformers are the live oracle's
// (tests/oracle/test_random_configs.py --arch gemma2).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "catch.h"
#include "core/error.h"
#include "model/architectures/architectures.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A hub-style (transformers 4.x) Gemma 2 config.json, small, with the keys left out that
// Gemma2Config has defaults for.
json tiny_config() {
  return json::parse(R"({
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 64,
    "hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 128,
    "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh", "bos_token_id": 2, "eos_token_id": 1})");
}

rig::ModelConfig read_config(const json& j) {
  const fs::path d = fs::temp_directory_path() / ("rig-test-gemma2-" + std::to_string(::getpid()));
  fs::create_directories(d);
  std::ofstream(d / "config.json") << j.dump();
  auto c = rig::ModelConfig::from_file(d / "config.json");
  fs::remove_all(d);
  return c;
}

std::string config_error(const json& j) {
  try {
    read_config(j);
  } catch (const rig::ModelError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Seeded random weights, tied ones shared, scaled so that the soft-caps act.
void randomize(rig::CausalLM& m, double std) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(5));
  std::map<std::string, at::Tensor> by_key;
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) {
      p.value = at::empty(p.shape).normal_(0, std, gen);
      by_key[mod.path() + "." + p.name] = p.value;
    }
  });
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters())
      if (auto src = m.tied_to(mod.path() + "." + p.name)) p.value = by_key.at(*src);
  });
}

}  // namespace

TEST_CASE("Gemma 2: print(model) and named_modules() as transformers 5.17", "[model][gemma2]") {
  auto model = rig::make_causal_lm(read_config(tiny_config()), "config.json");
  // print(Gemma2ForCausalLM(Gemma2Config(<tiny_config()>))) in transformers 5.17.0
  CHECK(model->repr() == R"(Gemma2ForCausalLM(
  (model): Gemma2Model(
    (embed_tokens): Gemma2TextScaledWordEmbedding(64, 24, padding_idx=0)
    (layers): ModuleList(
      (0-1): 2 x Gemma2DecoderLayer(
        (self_attn): Gemma2Attention(
          (q_proj): Linear(in_features=24, out_features=32, bias=False)
          (k_proj): Linear(in_features=24, out_features=16, bias=False)
          (v_proj): Linear(in_features=24, out_features=16, bias=False)
          (o_proj): Linear(in_features=32, out_features=24, bias=False)
        )
        (mlp): Gemma2MLP(
          (gate_proj): Linear(in_features=24, out_features=40, bias=False)
          (up_proj): Linear(in_features=24, out_features=40, bias=False)
          (down_proj): Linear(in_features=40, out_features=24, bias=False)
          (act_fn): GELUTanh()
        )
        (input_layernorm): Gemma2RMSNorm((24,), eps=1e-06)
        (post_attention_layernorm): Gemma2RMSNorm((24,), eps=1e-06)
        (pre_feedforward_layernorm): Gemma2RMSNorm((24,), eps=1e-06)
        (post_feedforward_layernorm): Gemma2RMSNorm((24,), eps=1e-06)
      )
    )
    (norm): Gemma2RMSNorm((24,), eps=1e-06)
    (rotary_emb): Gemma2RotaryEmbedding()
  )
  (lm_head): Linear(in_features=24, out_features=64, bias=False)
))");
  // named_modules() of the same model: every one a site, by the same name.
  std::string layer0;
  for (const char* s :
       {"\tGemma2DecoderLayer", ".self_attn\tGemma2Attention", ".self_attn.q_proj\tLinear", ".self_attn.k_proj\tLinear",
        ".self_attn.v_proj\tLinear", ".self_attn.o_proj\tLinear", ".mlp\tGemma2MLP", ".mlp.gate_proj\tLinear",
        ".mlp.up_proj\tLinear", ".mlp.down_proj\tLinear", ".mlp.act_fn\tGELUTanh", ".input_layernorm\tGemma2RMSNorm",
        ".post_attention_layernorm\tGemma2RMSNorm", ".pre_feedforward_layernorm\tGemma2RMSNorm",
        ".post_feedforward_layernorm\tGemma2RMSNorm"})
    layer0 += std::string("model.layers.N") + s + "\n";
  auto layer = [&](const std::string& n) {
    std::string s = layer0;
    for (size_t p; (p = s.find("layers.N")) != std::string::npos;) s.replace(p, 8, "layers." + n);
    return s;
  };
  const std::string want =
      "\tGemma2ForCausalLM\nmodel\tGemma2Model\nmodel.embed_tokens\tGemma2TextScaledWordEmbedding\n"
      "model.layers\tModuleList\n" +
      layer("0") + layer("1") + "model.norm\tGemma2RMSNorm\nmodel.rotary_emb\tGemma2RotaryEmbedding\nlm_head\tLinear\n";
  std::string ours;
  model->visit([&](rig::Module& m) { ours += m.path() + "\t" + m.type() + "\n"; });
  CHECK(ours == want);
  CHECK(model->find_site("model.layers.1.post_feedforward_layernorm"));
}

TEST_CASE("Gemma 2 config.json: Gemma2Config's defaults, null soft-capping, layer types", "[model][gemma2]") {
  const rig::ModelConfig c = read_config(tiny_config());
  CHECK(c.tie_word_embeddings);  // Gemma2Config's default; save_pretrained may leave it out
  CHECK(c.norm_eps == 1e-6);
  CHECK(c.hidden_act == "gelu_pytorch_tanh");  // hidden_activation, not hidden_act
  CHECK(c.query_pre_attn_scalar == 256);
  CHECK(c.attn_logit_softcapping == 50.0);
  CHECK(c.final_logit_softcapping == 30.0);
  CHECK(c.sliding_window == 4096);
  CHECK(c.sliding_layers == std::vector<bool>{true, false});  // even layers slide
  CHECK(c.pad_token_id == 0);

  json j = tiny_config();
  j.erase("head_dim");
  j.erase("max_position_embeddings");
  CHECK(read_config(j).head_dim == 256);
  CHECK(read_config(j).max_positions == 8192);
  j = tiny_config();
  j["attn_logit_softcapping"] = nullptr;
  j["final_logit_softcapping"] = nullptr;
  j["query_pre_attn_scalar"] = 144;
  j["sliding_window"] = 3;
  j["layer_types"] = {"full_attention", "sliding_attention"};
  j["tie_word_embeddings"] = false;
  const rig::ModelConfig n = read_config(j);
  CHECK(!n.attn_logit_softcapping);
  CHECK(!n.final_logit_softcapping);
  CHECK(n.query_pre_attn_scalar == 144);
  CHECK(n.sliding_window == 3);
  CHECK(n.sliding_layers == std::vector<bool>{false, true});
  CHECK(!n.tie_word_embeddings);

  j = tiny_config();
  j["attn_logit_softcapping"] = 0;
  CHECK(contains(config_error(j), "'attn_logit_softcapping': expected a positive number or null, got 0"));
  j = tiny_config();
  j["final_logit_softcapping"] = "30";
  CHECK(contains(config_error(j), "'final_logit_softcapping'"));
  j = tiny_config();
  j["hidden_activation"] = "gelu_10";
  try {
    rig::make_causal_lm(read_config(j), "config.json");
    FAIL("an unsupported hidden_activation was accepted");
  } catch (const rig::ModelError& e) {
    CHECK(contains(e.what(), "key 'hidden_activation': unsupported activation 'gelu_10'"));
  }
}

TEST_CASE("Gemma 2: lm_head's site holds the logits before the final soft-cap, forward capped ones",
          "[model][gemma2]") {
  at::NoGradGuard no_grad;
  json j = tiny_config();
  j["final_logit_softcapping"] = 2.0;
  auto model = rig::make_causal_lm(read_config(j), "config.json");
  randomize(*model, 1.0);  // logits well past the cap
  const int head = *model->find_site("lm_head");
  rig::SiteHooks hooks(model->n_sites());
  at::Tensor seen;
  hooks.add(head, rig::Side::kOutput, [&](const at::Tensor& y) {
    seen = y.clone();
    return y;
  });
  const auto ids = at::tensor(std::vector<int64_t>{2, 7, 9, 30, 4}, at::kLong).view({1, 5});
  const rig::ForwardInput in{ids, at::arange(5, at::kLong).view({1, 5}), at::ones({1, 5}, at::kBool)};
  const at::Tensor logits = model->forward(in, nullptr, &hooks, rig::LogitsFor::kAll);
  REQUIRE(seen.defined());
  CHECK(seen.abs().max().item<float>() > 4.0f);  // the cap acts
  CHECK(logits.abs().max().item<float>() <= 2.0f);
  CHECK(at::equal(logits, at::tanh(seen / 2.0) * 2.0));
}

TEST_CASE("attention soft-capping: cap * tanh(scores / cap) before the mask and softmax", "[model][gemma2]") {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(3));
  const at::Tensor q = at::empty({1, 2, 4, 8}).normal_(0, 2, gen), k = at::empty({1, 1, 4, 8}).normal_(0, 2, gen),
                   v = at::empty({1, 1, 4, 8}).normal_(0, 1, gen);
  const at::Tensor mask = at::ones({1, 4}, at::kBool);
  const double scale = 0.25, cap = 1.5;
  const at::Tensor got = rig::attention(q, k, v, mask, scale, nullptr, 0, 0, cap);
  // By hand: GQA (one key/value head for both query heads), causal, capped.
  const at::Tensor kk = k.expand({1, 2, 4, 8}), vv = v.expand({1, 2, 4, 8});
  at::Tensor s = at::matmul(q, kk.transpose(-1, -2)) * scale;
  s = at::tanh(s / cap) * cap;
  s = s.masked_fill(at::ones({4, 4}, at::kBool).triu(1), -INFINITY);
  const at::Tensor want = at::matmul(at::softmax(s, -1), vv).transpose(1, 2).reshape({1, 4, 16});
  CHECK(at::allclose(got, want, 1e-6, 1e-6));
  // Without the cap the result differs (the scores here reach past it).
  CHECK(!at::allclose(rig::attention(q, k, v, mask, scale, nullptr, 0), want, 1e-3, 1e-3));
}
