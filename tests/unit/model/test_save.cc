// save.h: a model saved by rig loads back (rig's own loader) to identical tensors, in each
// stored dtype; headers are 8-byte aligned and carry the metadata; tied weights are left out.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "catch.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/architectures/architectures.h"
#include "model/config.h"
#include "model/loader.h"
#include "model/save.h"
#include "model/weights.h"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("rig_test_save_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A tiny config of a that departs from its defaults where a round trip could lose something:
// grouped-query heads, biases, rotary fraction and scaling, sliding windows, soft-capping.
rig::ModelConfig tiny(const rig::Architecture& a) {
  const std::string type = a.model_type;
  const bool llama_like = type != "gpt_neox" && type != "gpt2";
  rig::ModelConfig c;
  c.model_type = type;
  c.architecture = a.architecture;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = llama_like ? 2 : 4;
  c.head_dim = type == "qwen3" || type == "gemma2" ? 6 : 4;  // 5.x: head_dim need not be hidden / heads
  c.attention_bias = type == "gpt_neox" || type == "qwen3";  // written and read back (GPT-NeoX's default is true)
  c.mlp_bias = type == "llama";
  c.intermediate_size = 24;
  c.max_positions = 32;
  c.norm_eps = 1e-6;
  c.hidden_act = type == "gpt2" ? "gelu_new" : type == "gemma2" ? "gelu_pytorch_tanh" : llama_like ? "silu" : "gelu";
  c.partial_rotary_factor = type == "gpt_neox" ? 0.25 : 1.0;
  c.rope_theta = type == "gpt2" ? 10000.0 : 500.0;
  if (type == "llama") {
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 4.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 2.0;
    c.rope_scaling.original_max_positions = 16;
  }
  c.tie_word_embeddings = type == "gpt2" || type == "gemma2";
  c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = type == "gpt2" ? 0.1 : 0.0;
  c.sliding_layers.assign(3, false);
  if (type == "mistral" || type == "qwen2" || type == "qwen3" || type == "gemma2") {
    c.sliding_window = 4;
    c.sliding_layers = type == "mistral" ? std::vector<bool>{true, true, true} : std::vector<bool>{true, false, true};
  }
  if (type == "gemma2") {
    c.query_pre_attn_scalar = 5;
    c.attn_logit_softcapping = 2.0;  // and no final soft-capping (null)
    c.pad_token_id = 0;
  }
  c.bos_token_id = c.eos_token_id = 0;
  c.torch_dtype = "float32";
  return c;
}

// Fills every parameter with seeded random values (tied ones share their source).
void randomize(rig::CausalLM& m, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> by_key;
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) {
      const std::string key = mod.path().empty() ? p.name : mod.path() + "." + p.name;
      p.value = at::empty(p.shape).normal_(0, 1, gen);
      by_key[key] = p.value;
    }
  });
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) {
      const std::string key = mod.path().empty() ? p.name : mod.path() + "." + p.name;
      if (auto src = m.tied_to(key)) p.value = by_key.at(*src);
    }
  });
}

std::map<std::string, at::Tensor> params_of(rig::CausalLM& m) {
  std::map<std::string, at::Tensor> r;
  m.visit([&](rig::Module& mod) {
    for (auto& p : mod.parameters()) r[mod.path().empty() ? p.name : mod.path() + "." + p.name] = p.value;
  });
  return r;
}

}  // namespace

TEST_CASE("save_model_dir round-trips through load_weights in every architecture and stored dtype", "[save]") {
  for (const rig::Architecture& arch : rig::architectures()) {
    const std::string type = arch.model_type;
    for (const at::ScalarType dt : {at::kFloat, at::kHalf, at::kBFloat16}) {
      INFO(type << " " << c10::toString(dt));
      const rig::ModelConfig c = tiny(arch);
      auto a = rig::make_causal_lm(c, "test");
      randomize(*a, 7);
      const fs::path dir = temp_dir(type);
      rig::save_model_dir(*a, c, dir, dt);
      // config.json reads back to the same shape-defining fields.
      const rig::ModelConfig back = rig::ModelConfig::from_file(dir / "config.json");
      CHECK(back.model_type == c.model_type);
      CHECK(back.attention_bias == c.attention_bias);
      CHECK(back.architecture == c.architecture);
      CHECK(back.hidden_size == c.hidden_size);
      CHECK(back.num_layers == c.num_layers);
      CHECK(back.num_heads == c.num_heads);
      CHECK(back.num_kv_heads == c.num_kv_heads);
      CHECK(back.intermediate_size == c.intermediate_size);
      CHECK(back.vocab_size == c.vocab_size);
      CHECK(back.partial_rotary_factor == c.partial_rotary_factor);
      CHECK(back.tie_word_embeddings == c.tie_word_embeddings);
      CHECK(back.head_dim == c.head_dim);
      CHECK(back.max_positions == c.max_positions);
      CHECK(back.norm_eps == c.norm_eps);
      CHECK(back.hidden_act == c.hidden_act);
      CHECK(back.rope_theta == c.rope_theta);
      CHECK(back.rope_scaling.type == c.rope_scaling.type);
      CHECK(back.rope_scaling.factor == c.rope_scaling.factor);
      CHECK(back.rope_scaling.original_max_positions == c.rope_scaling.original_max_positions);
      CHECK(back.mlp_bias == c.mlp_bias);
      CHECK(back.resid_pdrop == c.resid_pdrop);
      CHECK(back.sliding_window == c.sliding_window);
      CHECK(back.sliding_layers == c.sliding_layers);
      CHECK(back.query_pre_attn_scalar == c.query_pre_attn_scalar);
      CHECK(back.attn_logit_softcapping == c.attn_logit_softcapping);
      CHECK(back.final_logit_softcapping == c.final_logit_softcapping);
      CHECK(back.pad_token_id == c.pad_token_id);
      CHECK(back.bos_token_id == c.bos_token_id);
      CHECK(back.torch_dtype == rig::dtype_name(dt));
      // Written again, the same file: every key written is read back to what it was.
      CHECK(rig::config_json(back, dt) == rig::config_json(c, dt));
      auto b = rig::make_causal_lm(back, "test");
      rig::load_weights(*b, dir, at::kFloat, at::kCPU);
      const auto pa = params_of(*a), pb = params_of(*b);
      REQUIRE(pa.size() == pb.size());
      for (const auto& [k, t] : pa) {
        INFO(k);
        // Stored in dt, loaded as float32: equal to the original rounded to dt.
        CHECK(at::equal(t.to(dt).to(at::kFloat), pb.at(k)));
      }
      // GPT-2's tied head is not in the file (HF leaves it out) but is tied on loading.
      const auto f = rig::SafetensorsFile::open(dir / "model.safetensors");
      if (type == "gpt2") CHECK(f->find("lm_head.weight") == nullptr);
      if (type == "gpt2") CHECK(f->find("transformer.wte.weight") != nullptr);
      if (type == "gpt_neox") CHECK(f->find("embed_out.weight") != nullptr);
      if (type == "llama") CHECK(f->find("lm_head.weight") != nullptr);
      if (type == "gemma2") CHECK(f->find("lm_head.weight") == nullptr);
      fs::remove_all(dir);
    }
  }
}

TEST_CASE("save_safetensors writes an aligned header with metadata and rejects bad tensors", "[save]") {
  const fs::path dir = temp_dir("file");
  const fs::path f = dir / "x.safetensors";
  const at::Tensor h = at::arange(5, at::kFloat).to(at::kHalf);  // 10 bytes: odd-sized
  const at::Tensor w = at::arange(6, at::kFloat).view({2, 3});
  rig::save_safetensors(f, {{"h", h}, {"w", w}}, {{"format", "pt"}, {"note", "x"}});
  std::ifstream in(f, std::ios::binary);
  uint8_t len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | len[b];
  CHECK(n % 8 == 0);
  const auto file = rig::SafetensorsFile::open(f);
  CHECK(file->metadata().at("note") == "x");
  const rig::StTensor* tw = file->find("w");
  REQUIRE(tw);
  CHECK(tw->dtype == rig::StDtype::F32);
  CHECK(tw->shape == std::vector<int64_t>{2, 3});
  // The 4-byte tensor comes first despite the order given, so both start aligned.
  CHECK(reinterpret_cast<uintptr_t>(tw->data) % 4 == 0);
  const rig::StTensor* th = file->find("h");
  REQUIRE(th);
  CHECK(th->dtype == rig::StDtype::F16);
  CHECK(at::equal(at::from_blob(const_cast<uint8_t*>(th->data), {5}, at::kHalf), h));
  CHECK(at::equal(at::from_blob(const_cast<uint8_t*>(tw->data), {2, 3}, at::kFloat), w));

  CHECK_THROWS_WITH(rig::save_safetensors(f, {{"i", at::arange(3)}}, {}),
                    Catch::Matchers::Contains("tensor 'i' has dtype Long"));
  CHECK_THROWS_WITH(rig::save_safetensors(f, {{"w", w}, {"w", w}}, {}), Catch::Matchers::Contains("given twice"));
  fs::remove_all(dir);
}
