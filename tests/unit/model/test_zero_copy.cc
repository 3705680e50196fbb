// weights.cc: on the CPU, a tensor stored in the compute dtype is the file's read-only mapping
// (no copy), kept mapped while a weight views it; a dtype conversion or an unaligned tensor
// is a copy. Where a weight lives is read from /proc/self/maps.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "catch.h"
#include "model/architectures/architectures.h"
#include "model/config.h"
#include "model/generate.h"
#include "model/loader.h"
#include "model/save.h"
#include "model/weights.h"
#include "unit/model/tiny_models.h"

namespace fs = std::filesystem;
using rig::test::params_of;

namespace {

// A model of random weights, saved to dir in store dtype; returns its parameters by key.
std::map<std::string, at::Tensor> save_random(const rig::ModelConfig& c, const fs::path& dir, at::ScalarType store) {
  auto m = rig::make_causal_lm(c, "test");
  rig::test::randomize(*m, 3, 0.1);
  rig::save_model_dir(*m, c, dir, store);
  return rig::test::params_of(*m);
}

// The file mapped at address p in this process ("" or "[heap]" for anonymous memory).
std::string mapped_file(const void* p) {
  std::ifstream in("/proc/self/maps");
  std::string line;
  const auto a = reinterpret_cast<uintptr_t>(p);
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string range, perms, offset, dev, inode, path;
    ss >> range >> perms >> offset >> dev >> inode;
    std::getline(ss >> std::ws, path);
    const size_t dash = range.find('-');
    const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (a >= lo && a < hi) return path;
  }
  return "";
}

bool is_mapped(const fs::path& file) {
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line))
    if (line.size() >= file.string().size() &&
        line.compare(line.size() - file.string().size(), std::string::npos, file.string()) == 0)
      return true;
  return false;
}

// Rewrites a safetensors file with `extra` spaces after its header (still valid JSON): the
// data section moves by `extra` bytes, so tensors are no longer aligned to their elements.
void shift_data(const fs::path& f, size_t extra) {
  std::ifstream in(f, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | uint8_t(bytes[size_t(b)]);
  const uint64_t m = n + extra;
  std::string out(8, '\0');
  for (int b = 0; b < 8; ++b) out[size_t(b)] = char(uint8_t(m >> (8 * b)));
  out += bytes.substr(8, n) + std::string(extra, ' ') + bytes.substr(8 + n);
  std::ofstream(f, std::ios::binary | std::ios::trunc) << out;
}

}  // namespace

TEST_CASE("weights stored in the compute dtype are the file's mapping, kept while a weight views it", "[model]") {
  for (const rig::Architecture& arch : rig::architectures()) {
    const std::string type = arch.model_type;
    for (const at::ScalarType dt : {at::kFloat, at::kBFloat16, at::kHalf}) {
      INFO(type << " " << c10::toString(dt));
      const rig::ModelConfig c = rig::test::tiny_config(arch);
      const fs::path dir = rig::test::temp_model_dir("rig_test_zc", type);
      const auto want = save_random(c, dir, dt);
      const fs::path file = dir / "model.safetensors";
      auto m = rig::make_causal_lm(c, "test");
      rig::load_weights(*m, dir, dt, at::kCPU);  // the checkpoint object is gone: the weights hold the file
      auto got = rig::test::params_of(*m);
      for (const auto& [k, t] : got) {
        INFO(k);
        CHECK(t.scalar_type() == dt);
        CHECK(mapped_file(t.data_ptr()) == file.string());
        CHECK(at::equal(t, want.at(k).to(dt)));
      }
      // A tied head is the embedding itself, not a second copy or view.
      if (type == "gpt2") CHECK(got.at("lm_head.weight").data_ptr() == got.at("transformer.wte.weight").data_ptr());
      // The forward pass and generation only read the (read-only) weights: a write would fault.
      if (dt != at::kHalf || rig::cpu_supports_float16()) {
        rig::GenerateOptions go;
        go.max_new_tokens = 3;
        const auto r = rig::generate(*m, {{1, 2, 3}}, go, {1}, nullptr, at::kCPU);
        CHECK(r.at(0).new_ids.size() == 3);
      }
      CHECK(is_mapped(file));
      got.clear();
      m.reset();
      CHECK_FALSE(is_mapped(file));  // the last weight unmapped it
      fs::remove_all(dir);
    }
  }
}

TEST_CASE("a dtype conversion is a copy, and the file is unmapped after loading", "[model]") {
  const rig::ModelConfig c = rig::test::tiny_config(rig::test::architecture("llama"));
  const fs::path dir = rig::test::temp_model_dir("rig_test_zc", "convert");
  const auto want = save_random(c, dir, at::kFloat);
  for (const at::ScalarType dt : {at::kBFloat16, at::kHalf}) {
    INFO(c10::toString(dt));
    auto m = rig::make_causal_lm(c, "test");
    rig::load_weights(*m, dir, dt, at::kCPU);
    CHECK_FALSE(is_mapped(dir / "model.safetensors"));
    for (const auto& [k, t] : params_of(*m)) {
      INFO(k);
      CHECK(mapped_file(t.data_ptr()) != (dir / "model.safetensors").string());  // a copy
      CHECK(at::equal(t, want.at(k).to(dt)));
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("unaligned tensors are copied into aligned memory and load the same", "[model]") {
  for (const at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    INFO(c10::toString(dt));
    const rig::ModelConfig c = rig::test::tiny_config(rig::test::architecture("gpt2"));
    const fs::path dir = rig::test::temp_model_dir("rig_test_zc", "unaligned");
    const auto want = save_random(c, dir, dt);
    shift_data(dir / "model.safetensors", 1);  // every tensor at an odd address
    for (const at::ScalarType compute : {dt, at::kFloat}) {
      auto m = rig::make_causal_lm(c, "test");
      rig::load_weights(*m, dir, compute, at::kCPU);
      for (const auto& [k, t] : params_of(*m)) {
        INFO(k);
        CHECK(reinterpret_cast<uintptr_t>(t.data_ptr()) % t.element_size() == 0);
        CHECK(mapped_file(t.data_ptr()) != (dir / "model.safetensors").string());  // a copy
        CHECK(at::equal(t, want.at(k).to(dt).to(compute)));
      }
      const at::Tensor logits = rig::forward_batch(*m, {{1, 2, 3}}, nullptr, at::kCPU);
      CHECK(logits.size(2) == c.vocab_size);
    }
    fs::remove_all(dir);
  }
}
