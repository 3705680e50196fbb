// Reduced-precision products: rig's bfloat16 numbers are those of transformers' torch 2.x, which
// accumulates matrix products in float32 and rounds each result once, whichever LibTorch rig
// links (Debian's 1.13 accumulates in bfloat16 on some CPUs).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <vector>

#include "catch.h"
#include "model/layers.h"
#include "model/sites.h"

namespace {

// One bfloat16 ulp of the exact value (float32 from the same bfloat16 inputs), plus float32
// summation-order noise: what rounding once costs. Accumulating in bfloat16 costs far more.
void check_rounded_once(const at::Tensor& got, const at::Tensor& exact) {
  REQUIRE(got.scalar_type() == at::kBFloat16);
  const at::Tensor err = (got.to(at::kFloat) - exact).abs();
  const at::Tensor bound = exact.abs() * std::ldexp(1.0, -7) + 1e-4;
  INFO("worst error " << err.max().item<double>() << ", worst error / bound " << (err / bound).max().item<double>());
  CHECK((err <= bound).all().item<bool>());
}

at::Tensor bf16_normal(std::vector<int64_t> shape, double sd, at::Generator& gen) {
  return at::empty(shape).normal_(0, sd, gen).to(at::kBFloat16);
}

}  // namespace

TEST_CASE("bfloat16 Conv1D (GPT-2): float32 accumulation, one rounding", "[model][precision]") {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(7));
  rig::Conv1D conv(64, 1024);  // addmm with the weight as stored, [in, out]
  rig::SiteContext no_hooks;
  conv.finalize(&no_hooks);
  conv.weight = bf16_normal({1024, 64}, 0.05, gen);
  conv.bias = bf16_normal({64}, 1.0, gen);
  const at::Tensor x = bf16_normal({2, 8, 1024}, 1.0, gen);
  const at::Tensor exact =
      at::addmm(conv.bias.to(at::kFloat), x.reshape({16, 1024}).to(at::kFloat), conv.weight.to(at::kFloat))
          .view({2, 8, 64});
  check_rounded_once(conv.forward(x), exact);
}

TEST_CASE("bfloat16 attention: the pattern times the values over 512 keys, one rounding", "[model][precision]") {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(8));
  const int64_t T = 512, Dh = 16;
  // Zero queries: every score is 0, so row t's pattern is 1/(t+1) over its causal keys and the
  // reference needs no rounding of its own but the pattern's, as rig and transformers round it.
  const at::Tensor q = at::zeros({1, 2, T, Dh}, at::kBFloat16), k = bf16_normal({1, 2, T, Dh}, 1.0, gen);
  const at::Tensor v = bf16_normal({1, 2, T, Dh}, 1.0, gen);
  const at::Tensor got = rig::attention(q, k, v, at::ones({1, T}, at::kBool), 0.25, nullptr, 0);
  const at::Tensor causal = at::ones({T, T}, at::kBool).triu(1);
  const at::Tensor pattern = at::softmax(at::zeros({T, T}).masked_fill(causal, -INFINITY), -1);
  const at::Tensor exact =
      at::matmul(pattern.to(at::kBFloat16).to(at::kFloat), v.to(at::kFloat)).transpose(1, 2).reshape({1, T, 2 * Dh});
  check_rounded_once(got, exact);
}
