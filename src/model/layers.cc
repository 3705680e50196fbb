#include "model/layers.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace rig {

namespace {
// LibTorch 1.x (Debian 12's 1.13), depending on the CPU, accumulates a bfloat16/float16 matrix
// product in the reduced type when its right operand is not transposed (addmm, bmm): on an
// AVX2-only EPYC, a bfloat16 addmm over 256 terms was off by 0.34 where float32 accumulation
// rounded once is off by 0.016. Torch 2.x, transformers' torch, accumulates in float32; with 1.x
// rig computes such products in float32 and rounds the result once.
bool narrow_accumulation(const at::Tensor& x) {
#ifndef TORCH_VERSION_MAJOR
#error "torch/version.h did not define TORCH_VERSION_MAJOR"
#elif TORCH_VERSION_MAJOR < 2
  return x.device().is_cpu() && (x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf);
#else
  (void)x;
  return false;
#endif
}
// op(a, b), a matrix product of operands of a's type, accumulated in float32 and rounded once.
template <class Op>
at::Tensor product(const at::Tensor& a, const at::Tensor& b, Op op) {
  if (!narrow_accumulation(a)) return op(a, b);
  return op(a.to(at::kFloat), b.to(at::kFloat)).to(a.scalar_type());
}
}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias)
    : Module("Linear"),
      weight(param("weight", {out_features, in_features})),
      in_features(in_features),
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

std::string Conv1D::extra_repr() const { return "nf=" + std::to_string(nf) + ", nx=" + std::to_string(nx); }

std::string Embedding::extra_repr() const { return std::to_string(num) + ", " + std::to_string(dim); }

std::string LayerNorm::extra_repr() const {
  return "(" + std::to_string(dim) + ",), eps=" + py_float(eps) + ", elementwise_affine=True";
}

std::string RMSNorm::extra_repr() const { return "(" + std::to_string(dim) + ",), eps=" + py_float(eps); }

at::Tensor Conv1D::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  const at::Tensor y = product(h.reshape({-1, h.size(-1)}), weight, [&](const at::Tensor& a, const at::Tensor& w) {
    return at::addmm(bias.to(a.scalar_type()), a, w);
  });
  return out(y.view([&] {
    auto s = h.sizes().vec();
    s.back() = weight.size(1);
    return s;
  }()));
}

Embedding::Embedding(int64_t n, int64_t d) : Module("Embedding"), weight(param("weight", {n, d})), num(n), dim(d) {}

at::Tensor Embedding::forward(const at::Tensor& ids) const { return out(at::embedding(weight, ids)); }

std::shared_ptr<InnerSite> normalized_site(Module& norm, int64_t dim) {
  return norm.add_site("normalized", std::make_shared<InnerSite>("NormalizedSite", 0, dim, "hidden"));
}

LayerNorm::LayerNorm(int64_t d, double e)
    : Module("LayerNorm"),
      weight(param("weight", {d})),
      bias(param("bias", {d})),
      dim(d),
      eps(e),
      normalized(normalized_site(*this, d)) {}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  if (!normalized->wanted()) return out(at::layer_norm(h, {dim}, weight, bias, eps));
  return out(normalized->run(at::layer_norm(h, {dim}, {}, {}, eps)) * weight + bias);
}

RMSNorm::RMSNorm(std::string type, int64_t d, double e)
    : Module(std::move(type)), weight(param("weight", {d})), dim(d), eps(e), normalized(normalized_site(*this, d)) {}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const at::Tensor h = in(x);
  // [..., n*dim] -> [..., n, dim]: a per-head norm (Qwen3's q_norm) sees its heads side by side.
  const at::Tensor h32 = h.to(at::kFloat).unflatten(-1, {-1, dim});
  at::Tensor normed = (h32 * at::rsqrt(h32.pow(2).mean(-1, /*keepdim=*/true) + eps)).to(h.scalar_type());
  if (normalized->wanted()) normed = normalized->run(normed.flatten(-2)).unflatten(-1, {-1, dim});
  return out((weight * normed).flatten(-2));
}

namespace {
struct ActName {
  const char* config_name;
  const char* hf_type;
};
// config.json hidden_act -> HF activation class (transformers.activations.ACT2CLS).
const ActName kActs[] = {{"gelu", "GELUActivation"},
                         {"gelu_new", "NewGELUActivation"},
                         {"gelu_pytorch_tanh", "GELUTanh"},
                         {"gelu_fast", "FastGELUActivation"},
                         {"silu", "SiLUActivation"},
                         {"swish", "SiLUActivation"},
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

namespace {
// 1 / theta^(2i / R) over an int64 arange, in float32, as transformers computes it; theta
// is a Python float (at::Scalar) or, for dynamic scaling, a 0-dim float32 tensor.
template <class Theta>
at::Tensor rope_inv_freq(const Theta& theta, int64_t rd) {
  return at::pow(theta, at::arange(0, rd, 2, at::kLong).to(at::kFloat) / double(rd)).reciprocal();
}
// Python's `c / t` on a tensor is t.reciprocal() * c (torch's __rtruediv__), not a division.
at::Tensor rdiv(double c, const at::Tensor& t) { return t.reciprocal() * c; }
}  // namespace

RotaryEmbedding::RotaryEmbedding(std::string type, int64_t rd, const ModelConfig& c)
    : Module(std::move(type)),
      rotary_dim(rd),
      theta_(c.rope_theta),
      scaling_(c.rope_scaling),
      max_positions_(c.max_positions) {
  const auto& s = scaling_;
  inv_freq_ = rope_inv_freq(at::Scalar(theta_), rd);
  if (s.type == "linear") {
    inv_freq_ = inv_freq_ / *s.factor;
  } else if (s.type == "dynamic") {
    // At load, seq_len = max_position_embeddings, in Python floats: theta * 1^(R / (R - 2)).
    const double f = *s.factor;
    const double m = double(max_positions_);
    inv_freq_ = rope_inv_freq(at::Scalar(theta_ * std::pow(f * m / m - (f - 1), double(rd) / double(rd - 2))), rd);
  } else if (s.type == "llama3") {
    const double f = *s.factor, lo = s.low_freq_factor, hi = s.high_freq_factor;
    const double old_len = double(s.original_max_positions);
    const at::Tensor wavelen = rdiv(2 * M_PI, inv_freq_);
    // long wavelengths divided by the factor, short ones kept, the middle interpolated
    at::Tensor inv = at::where(wavelen > old_len / lo, inv_freq_ / f, inv_freq_);
    const at::Tensor smooth = (rdiv(old_len, wavelen) - lo) / (hi - lo);
    const at::Tensor smoothed = (1 - smooth) * inv / f + smooth * inv;
    const at::Tensor medium = (wavelen < old_len / hi).logical_not() * (wavelen > old_len / lo).logical_not();
    inv_freq_ = at::where(medium, smoothed, inv);
  } else if (s.type == "yarn") {
    const double orig = double(s.original_max_positions);
    const double f = s.factor ? *s.factor : double(max_positions_) / orig;
    auto mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
    if (s.attention_factor) attention_scaling_ = *s.attention_factor;
    else if (s.mscale.value_or(0) && s.mscale_all_dim.value_or(0))
      attention_scaling_ = mscale(f, *s.mscale) / mscale(f, *s.mscale_all_dim);
    else attention_scaling_ = mscale(f, 1.0);
    // The dims whose wavelength fits beta_fast (beta_slow) rotations in the original context.
    auto correction_dim = [&](double rotations) {
      return double(rd) * std::log(orig / (rotations * 2 * M_PI)) / (2 * std::log(theta_));
    };
    double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
    if (s.truncate) low = std::floor(low), high = std::ceil(high);
    low = std::max(low, 0.0);
    high = std::min(high, double(rd - 1));
    if (low == high) high += 0.001;  // transformers: prevents a division by zero
    const at::Tensor pos_freqs = at::pow(theta_, at::arange(0, rd, 2, at::kLong).to(at::kFloat) / double(rd));
    const at::Tensor extrapolation = pos_freqs.reciprocal(), interpolation = (pos_freqs * f).reciprocal();
    const at::Tensor ramp = ((at::arange(rd / 2, at::kFloat) - low) / (high - low)).clamp(0, 1);
    const at::Tensor extra_factor = 1 - ramp;
    inv_freq_ = interpolation * (1 - extra_factor) + extrapolation * extra_factor;
  }
}

at::Tensor RotaryEmbedding::dynamic_inv_freq(int64_t seq_len) const {
  if (seq_len <= max_positions_) return inv_freq_;
  // transformers computes this base from a 0-dim int64 tensor: the arithmetic is float32.
  const double f = *scaling_.factor;
  const at::Tensor n = at::scalar_tensor(seq_len, at::kLong);
  const at::Tensor base =
      ((n * f) / max_positions_ - (f - 1)).pow(double(rotary_dim) / double(rotary_dim - 2)) * theta_;
  return rope_inv_freq(base, rotary_dim);
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::forward(const at::Tensor& x, const at::Tensor& positions) const {
  in(x);
  // transformers' dynamic_rope_update: recomputed from the longest sequence of the batch.
  // (It also keeps a grown table until a sequence shorter than max_position_embeddings comes;
  // rig recomputes each call, which equals it whenever calls do not shrink in between.)
  const at::Tensor inv_freq =
      scaling_.type == "dynamic" ? dynamic_inv_freq(positions.max().item<int64_t>() + 1) : inv_freq_;
  // freqs: [B, T, R/2] = positions x inv_freq; emb = [freqs, freqs]
  const at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq.to(x.device()).view({1, 1, -1});
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos(), sin = emb.sin();
  if (attention_scaling_ != 1.0) cos = cos * attention_scaling_, sin = sin * attention_scaling_;
  cos = out(cos.to(x.scalar_type()));
  return {cos, sin.to(x.scalar_type())};
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
                     double scale, KVCache* cache, int layer, int64_t window, double softcap,
                     const AttentionSites* sites) {
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
  at::Tensor scores = product(q, k.transpose(-1, -2), at::matmul).to(at::kFloat) * scale;
  if (softcap > 0) scores = at::tanh(scores / softcap) * softcap;  // op for op as eager_attention_forward
  const auto opts = at::TensorOptions().device(q.device());
  const at::Tensor qpos = at::arange(past, past + T, opts.dtype(at::kLong)).view({T, 1});
  const at::Tensor kpos = at::arange(0, S, opts.dtype(at::kLong)).view({1, S});
  at::Tensor causal = kpos <= qpos;
  // Cache slots are positions: a left-padded row's real tokens are contiguous, so the window
  // counts real tokens, as transformers' sliding_window_overlay (kv > q - window) does.
  if (window > 0) causal = causal & (kpos > qpos - window);
  const at::Tensor allowed = causal.view({1, 1, T, S}) & key_mask.view({B, 1, 1, S});
  const at::Tensor masked = allowed.logical_not();
  const double inf = std::numeric_limits<double>::infinity();
  if (sites && sites->scores->wanted()) {
    const at::Tensor hooked = sites->keys_site(*sites->scores, scores.masked_fill(masked, -inf), key_mask, -inf);
    if (hooked.defined()) scores = hooked.to(at::kFloat);
  }
  scores = scores.masked_fill(masked, -1e30);
  at::Tensor probs = at::softmax(scores, -1);
  if (sites && sites->pattern->wanted()) {
    // An edited pattern is used as it is (no renormalization); masked keys stay out of it.
    const at::Tensor hooked = sites->keys_site(*sites->pattern, probs.masked_fill(masked, 0.0), key_mask, 0.0);
    if (hooked.defined()) probs = hooked.to(at::kFloat).masked_fill(masked, 0.0);
  }
  const at::Tensor z = product(probs.to(q.scalar_type()), v, at::matmul).transpose(1, 2).reshape({B, T, H * Dh});
  return sites ? AttentionSites::flat(sites->z, z) : z;
}

AttentionSites::AttentionSites(Module& attn, int64_t h, int64_t hkv, int64_t dh, int64_t hidden, int64_t max_keys,
                               bool rotary) {
  auto site = [&](const char* name, int64_t n, int64_t per_head, const char* axis) {
    return attn.add_site(name, std::make_shared<InnerSite>("AttentionSite", n, per_head, axis));
  };
  q = site("q", h, dh, "head_dim");
  k = site("k", hkv, dh, "head_dim");
  v = site("v", hkv, dh, "head_dim");
  if (rotary) {
    q_rot = site("q_rot", h, dh, "head_dim");
    k_rot = site("k_rot", hkv, dh, "head_dim");
  }
  scores = site("scores", h, max_keys, "key");
  pattern = site("pattern", h, max_keys, "key");
  z = site("z", h, dh, "head_dim");
  result = site("result", h, hidden, "hidden");
}

at::Tensor AttentionSites::heads(const std::shared_ptr<InnerSite>& s, const at::Tensor& x) {
  if (!s || !s->wanted()) return x;
  const int64_t B = x.size(0), n = x.size(1), T = x.size(2), Dh = x.size(3);
  const at::Tensor flat = x.transpose(1, 2).reshape({B, T, n * Dh});
  const at::Tensor hooked = s->run(flat);
  return hooked.is_same(flat) ? x : hooked.view({B, T, n, Dh}).transpose(1, 2);
}

at::Tensor AttentionSites::result_site(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w_o) const {
  if (!result->wanted()) return y;
  const int64_t B = z.size(0), T = z.size(1), H = result->heads, D = result->per_head;
  const at::Tensor per_head =
      product(z.view({B, T, H, -1}), w_o.view({H, -1, D}), [](const at::Tensor& a, const at::Tensor& b) {
        return at::einsum("bthd,hdo->btho", {a, b});
      }).reshape({B, T, H * D});
  const at::Tensor hooked = result->run(per_head);
  if (hooked.is_same(per_head)) return y;
  // The output is the sum of the heads' terms (and the bias): add what the hooks changed.
  return y + (hooked.to(y.scalar_type()) - per_head).view({B, T, H, D}).sum(2);
}

at::Tensor AttentionSites::keys_site(const InnerSite& s, const at::Tensor& x, const at::Tensor& key_mask,
                                     double fill) const {
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), S = x.size(3), K = s.per_head;
  // order[b]: the sequence's real key slots first (in order), then its padding slots
  const at::Tensor order = std::get<1>(key_mask.logical_not().to(at::kInt).sort(/*stable=*/true, 1, false));
  const at::Tensor count = key_mask.sum(1);  // [B]
  if (count.max().item<int64_t>() > K)
    throw Error(s.path() + ": " + std::to_string(count.max().item<int64_t>()) + " keys, more than the site's " +
                std::to_string(K) + " (max_position_embeddings)");
  const at::Tensor real = at::arange(S, key_mask.options().dtype(at::kLong)).view({1, S}) < count.view({B, 1});
  at::Tensor by_key = x.gather(-1, order.view({B, 1, 1, S}).expand({B, H, T, S}))
                          .masked_fill(real.logical_not().view({B, 1, 1, S}), fill);
  by_key = S >= K ? by_key.narrow(-1, 0, K) : at::constant_pad_nd(by_key, {0, K - S}, fill);
  const at::Tensor shown = by_key.permute({0, 2, 1, 3}).reshape({B, T, H * K});
  const at::Tensor hooked = s.run(shown);
  if (hooked.is_same(shown)) return at::Tensor();
  at::Tensor back = hooked.view({B, T, H, K}).permute({0, 2, 1, 3});
  back = S <= K ? back.narrow(-1, 0, S) : at::constant_pad_nd(back, {0, S - K}, fill);
  const at::Tensor inverse = std::get<1>(order.sort(1));  // slot -> its place in order
  return back.gather(-1, inverse.view({B, 1, 1, S}).expand({B, H, T, S}));
}

}  // namespace rig
