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
#include "unit/model/tiny_models.h"

namespace fs = std::filesystem;

using rig::test::params_of;
using rig::test::randomize;

TEST_CASE("save_model_dir round-trips through load_weights in every architecture and stored dtype", "[save]") {
  for (const rig::Architecture& arch : rig::architectures()) {
    const std::string type = arch.model_type;
    for (const at::ScalarType dt : {at::kFloat, at::kHalf, at::kBFloat16}) {
      INFO(type << " " << c10::toString(dt));
      const rig::ModelConfig c = rig::test::tiny_config(arch);
      auto a = rig::make_causal_lm(c, "test");
      randomize(*a, 7);
      const fs::path dir = rig::test::temp_model_dir("rig_test_save", type);
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
  const fs::path dir = rig::test::temp_model_dir("rig_test_save", "file");
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
