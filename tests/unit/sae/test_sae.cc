// sae.h: SAELens-format SAEs load, encode as each architecture defines (hand-computed cases),
// and a bad file names cfg.json and the key, or the safetensors file and the tensor.
// (Parity with SAELens itself: tests/oracle/test_sae_parity.py.)
#include <ATen/ATen.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "catch.h"
#include "core/error.h"
#include "model/save.h"
#include "sae/sae.h"

namespace fs = std::filesystem;
using namespace rig;

namespace {

struct TmpDir {
  fs::path p;
  TmpDir() {
    p = fs::temp_directory_path() / ("rig-test-sae-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(p);
  }
  ~TmpDir() { fs::remove_all(p); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

// A 2-in, 3-latent SAE: W_enc = [[1, 0, 1], [0, 1, 1]], W_dec = W_enc^T, biases 0.
void write_sae(const fs::path& dir, const std::string& cfg_extra,
               std::vector<std::pair<std::string, at::Tensor>> extra = {}, bool with_w_dec = true) {
  std::ofstream(dir / "cfg.json") << "{\"d_in\": 2, \"d_sae\": 3" << cfg_extra << "}";
  const at::Tensor W_enc = at::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 1.f}).reshape({2, 3});
  std::vector<std::pair<std::string, at::Tensor>> t = {
      {"W_enc", W_enc}, {"b_enc", at::zeros({3})}, {"b_dec", at::zeros({2})}};
  if (with_w_dec) t.emplace_back("W_dec", W_enc.t().contiguous());
  for (auto& e : extra) t.push_back(e);
  save_safetensors(dir / "sae_weights.safetensors", t, {});
}

std::string load_error(const fs::path& dir) {
  try {
    Sae::load(dir);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("sae: standard, jumprelu and topk encode as SAELens defines them") {
  TmpDir d;
  const at::Tensor x = at::tensor({2.f, -1.f});  // pre = [2, -1, 1]
  write_sae(d.p, ", \"architecture\": \"standard\"");
  auto s = Sae::load(d.p);
  CHECK(at::equal(s->encode(x), at::tensor({2.f, 0.f, 1.f})));
  write_sae(d.p, ", \"architecture\": \"jumprelu\"", {{"threshold", at::tensor({1.5f, 0.f, 1.f})}});
  s = Sae::load(d.p);
  CHECK(at::equal(s->encode(x), at::tensor({2.f, 0.f, 0.f})));  // 1 is not > threshold 1
  write_sae(d.p, ", \"architecture\": \"topk\", \"k\": 1");
  s = Sae::load(d.p);
  CHECK(at::equal(s->encode(x), at::tensor({2.f, 0.f, 0.f})));
  Sae::Norm n;
  const at::Tensor a = s->encode(x, &n);
  CHECK(at::equal(s->decode(a, n), at::tensor({2.f, 0.f})));
  CHECK(at::equal(s->decode_delta(at::tensor({0.f, 0.f, 1.f}), n), at::tensor({1.f, 1.f})));
}

TEST_CASE("sae: a bad cfg.json names the file and the key") {
  TmpDir d;
  write_sae(d.p, ", \"architecture\": \"gated\"");
  CHECK_THAT(load_error(d.p),
             Catch::Contains("cfg.json: architecture: expected standard | jumprelu | topk, got 'gated'"));
  write_sae(d.p, ", \"architecture\": \"topk\", \"k\": 4");
  CHECK_THAT(load_error(d.p), Catch::Contains("cfg.json: k: expected at most d_sae = 3, got 4"));
  write_sae(d.p, ", \"normalize_activations\": \"covariance_whitening\"");
  CHECK_THAT(load_error(d.p), Catch::Contains("cfg.json: normalize_activations: expected none"));
  std::ofstream(d.p / "cfg.json") << "{\"d_sae\": 3}";
  CHECK_THAT(load_error(d.p), Catch::Contains("cfg.json: d_in: missing required key"));
}

TEST_CASE("sae: a bad weights file names the file and the tensor") {
  TmpDir d;
  write_sae(d.p, "", {}, /*with_w_dec=*/false);
  CHECK_THAT(load_error(d.p),
             Catch::Contains("sae_weights.safetensors: tensor 'W_dec' is missing (expected shape [3, 2])"));
  write_sae(d.p, "", {}, false);
  save_safetensors(d.p / "sae_weights.safetensors",
                   {{"W_enc", at::zeros({3, 2})},
                    {"b_enc", at::zeros({3})},
                    {"W_dec", at::zeros({3, 2})},
                    {"b_dec", at::zeros({2})}},
                   {});
  CHECK_THAT(load_error(d.p), Catch::Contains("tensor 'W_enc' has shape [3, 2]; expected [2, 3]"));
  write_sae(d.p, ", \"architecture\": \"jumprelu\"");
  CHECK_THAT(load_error(d.p), Catch::Contains("tensor 'threshold' is missing"));
  write_sae(d.p, "", {{"threshold", at::zeros({3})}});
  CHECK_THAT(load_error(d.p), Catch::Contains("tensor 'threshold' is unexpected"));
  write_sae(d.p, "", {{"scaling_factor", at::zeros({3})}});
  CHECK_THAT(load_error(d.p), Catch::Contains("tensor 'scaling_factor' is unexpected"));
}
