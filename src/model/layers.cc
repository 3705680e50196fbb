#include "model/layers.h"

#include <cmath>

#include "core/error.h"

namespace rig {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias)
    : Module("Linear"), weight(param("weight", {out_features, in_features})), in_features(in_features),
      out_features(out_features) {
  if (has_bias) bias = &param("bias", {out_features});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  // One row (batch-1 generation): a matrix-vector product. OpenBLAS's sgemm packs the whole
  // weight matrix for M = 1, reading it twice and writing it once; sgemv streams it once
  // (rig bench: 3x the weight-streaming bound -> see docs/PERFORMANCE.md).
  if (h.device().is_cpu() && h.numel() == in_features && h.scalar_type() == at::kFloat) {
    at::Tensor y = at::mv(weight, h.reshape({in_features}));
    if (bias) y.add_(*bias);
    auto shape = h.sizes().vec();
    shape.back() = out_features;
    return out(y.view(shape));
  }
  return out(at::linear(h, weight, bias ? *bias : at::Tensor()));
}

Conv1D::Conv1D(int64_t nf_, int64_t nx_)
    : Module("Conv1D"), weight(param("weight", {nx_, nf_})), bias(param("bias", {nf_})), nf(nf_), nx(nx_) {}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias ? "True" : "False");
}

std::string Conv1D::extra_repr() const {
  return "nf=" + std::to_string(nf) + ", nx=" + std::to_string(nx);
}

std::string Embedding::extra_repr() const { return std::to_string(num) + ", " + std::to_string(dim); }

std::string LayerNorm::extra_repr() const {
  return "(" + std::to_string(dim) + ",), eps=" + py_float(eps) + ", elementwise_affine=True";
}

std::string RMSNorm::extra_repr() const { return "(" + std::to_string(dim) + ",), eps=" + py_float(eps); }

at::Tensor Conv1D::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  return out(at::addmm(bias, h.reshape({-1, h.size(-1)}), weight).view(
      [&] { auto s = h.sizes().vec(); s.back() = weight.size(1); return s; }()));
}

Embedding::Embedding(int64_t n, int64_t d) : Module("Embedding"), weight(param("weight", {n, d})), num(n), dim(d) {}

at::Tensor Embedding::forward(const at::Tensor& ids) const { return out(at::embedding(weight, ids)); }

LayerNorm::LayerNorm(int64_t d, double e)
    : Module("LayerNorm"), weight(param("weight", {d})), bias(param("bias", {d})), dim(d), eps(e) {}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return out(at::layer_norm(in(x), {dim}, weight, bias, eps));
}

RMSNorm::RMSNorm(std::string type, int64_t d, double e)
    : Module(std::move(type)), weight(param("weight", {d})), dim(d), eps(e) {}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  const at::Tensor h32 = h.to(at::kFloat);
  const at::Tensor normed = h32 * at::rsqrt(h32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return out(weight * normed.to(h.scalar_type()));
}

namespace {
struct ActName {
  const char* config_name;
  const char* hf_type;
};
// config.json hidden_act -> HF activation class (transformers.activations.ACT2CLS).
const ActName kActs[] = {{"gelu", "GELUActivation"},      {"gelu_new", "NewGELUActivation"},
                         {"gelu_pytorch_tanh", "PytorchGELUTanh"}, {"gelu_fast", "FastGELUActivation"},
                         {"silu", "SiLUActivation"},      {"swish", "SiLUActivation"},
                         {"relu", "ReLU"}};
const char* act_type(const std::string& act) {
  for (const auto& a : kActs)
    if (act == a.config_name) return a.hf_type;
  std::string known;
  for (const auto& a : kActs) known += std::string(known.empty() ? "" : ", ") + a.config_name;
  throw ModelError("unsupported activation '" + act + "' (supported: " + known + ")");
}
}  // namespace

bool Activation::supported(const std::string& act) {
  for (const auto& a : kActs)
    if (act == a.config_name) return true;
  return false;
}

Activation::Activation(const std::string& act) : Module(act_type(act)) {
  if (act == "gelu") kind_ = kGelu;
  else if (act == "silu" || act == "swish") kind_ = kSilu;
  else if (act == "relu") kind_ = kRelu;
  else kind_ = kGeluTanh;  // gelu_new, gelu_pytorch_tanh, gelu_fast: the tanh approximation
}

at::Tensor Activation::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  switch (kind_) {
    case kGelu: return out(at::gelu(h));
    case kGeluTanh: return out(at::gelu(h, "tanh"));
    case kSilu: return out(at::silu(h));
    case kRelu: return out(at::relu(h));
  }
  return out(h);
}

RotaryEmbedding::RotaryEmbedding(std::string type, int64_t rd, double theta)
    : Module(std::move(type)), rotary_dim(rd) {
  // inv_freq = 1 / theta^(2i / R), as HF computes it (in float32, int64 arange).
  inv_freq_ = 1.0 / at::pow(theta, at::arange(0, rd, 2, at::kLong).to(at::kFloat) / double(rd));
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::forward(const at::Tensor& x, const at::Tensor& positions) const {
  in(x);
  // freqs: [B, T, R/2] = positions x inv_freq; emb = [freqs, freqs]
  const at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_.to(x.device()).view({1, 1, -1});
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = out(emb.cos().to(x.scalar_type()));
  return {cos, emb.sin().to(x.scalar_type())};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t r = cos.size(-1);
  const at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [B, 1, T, R]
  const at::Tensor xr = x.narrow(-1, 0, r);
  const at::Tensor x1 = xr.narrow(-1, 0, r / 2), x2 = xr.narrow(-1, r / 2, r - r / 2);
  const at::Tensor rotated = xr * c + at::cat({-x2, x1}, -1) * s;  // x*cos + rotate_half(x)*sin
  if (r == x.size(-1)) return rotated;
  return at::cat({rotated, x.narrow(-1, r, x.size(-1) - r)}, -1);
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k_new, const at::Tensor& v_new, const at::Tensor& key_mask,
                     double scale, KVCache* cache, int layer) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), Dh = q.size(3);
  at::Tensor k = k_new, v = v_new;
  int64_t past = 0;
  if (cache && cache->capacity > 0) {
    LayerCache& lc = cache->layers.at(layer);
    past = cache->len;
    if (!lc.k.defined()) {
      lc.k = at::empty({B, k_new.size(1), cache->capacity, Dh}, k_new.options());
      lc.v = at::empty({B, v_new.size(1), cache->capacity, Dh}, v_new.options());
    }
    if (past + T > cache->capacity) throw Error("KV cache overflow: capacity " + std::to_string(cache->capacity));
    lc.k.narrow(2, past, T).copy_(k_new);
    lc.v.narrow(2, past, T).copy_(v_new);
    k = lc.k.narrow(2, 0, past + T);
    v = lc.v.narrow(2, 0, past + T);
  }
  const int64_t S = k.size(2);
  const int64_t rep = H / k.size(1);
  if (rep > 1) {  // grouped-query attention: each key/value head serves `rep` query heads
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  // scores: [B, H, T, S] in float32; causal over absolute positions, and padding masked.
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).to(at::kFloat) * scale;
  const auto opts = at::TensorOptions().device(q.device());
  const at::Tensor qpos = at::arange(past, past + T, opts.dtype(at::kLong)).view({T, 1});
  const at::Tensor kpos = at::arange(0, S, opts.dtype(at::kLong)).view({1, S});
  const at::Tensor allowed = (kpos <= qpos).view({1, 1, T, S}) & key_mask.view({B, 1, 1, S});
  scores = scores.masked_fill(allowed.logical_not(), -1e30);
  const at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type());
  return at::matmul(probs, v).transpose(1, 2).reshape({B, T, H * Dh});
}

}  // namespace rig
