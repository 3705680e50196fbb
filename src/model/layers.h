#pragma once
// The leaf modules of HF's causal LMs, each with HF's class name as its type and HF's
// parameter names. Shapes: B batch, T tokens, D model width, F MLP width, V vocab.
#include <ATen/ATen.h>

#include "model/config.h"
#include "model/module.h"

namespace rig {

// torch.nn.Linear: y = x W^T + b, weight [out, in].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias);
  at::Tensor forward(const at::Tensor& x) const;  // [..., in] -> [..., out]
  std::string extra_repr() const override;
  at::Tensor& weight;
  at::Tensor* bias = nullptr;
  int64_t in_features, out_features;
};

// GPT-2's Conv1D: y = x W + b with weight stored transposed, [in, out] (nx, nf).
class Conv1D : public Module {
 public:
  Conv1D(int64_t nf, int64_t nx);
  at::Tensor forward(const at::Tensor& x) const;  // [..., nx] -> [..., nf]
  std::string extra_repr() const override;
  at::Tensor& weight;
  at::Tensor& bias;
  int64_t nf, nx;
};

// torch.nn.Embedding: ids [B, T] -> [B, T, D]. Its input (integer ids) is no recording site.
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const;
  std::string extra_repr() const override;
  at::Tensor& weight;
  int64_t num, dim;
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;  // [B, T, D] -> [B, T, D]
  std::string extra_repr() const override;
  at::Tensor& weight;
  at::Tensor& bias;
  int64_t dim;
  double eps;
  std::shared_ptr<InnerSite> normalized;  // (x - mean) / scale, before weight and bias (TL's hook_normalized)
};

// LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * weight, computed in float32 as HF does, over
// each dim-wide group of the last axis: x [..., n*dim] (n = 1, or H for a per-head norm).
class RMSNorm : public Module {
 public:
  RMSNorm(std::string type, int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  std::string extra_repr() const override;
  at::Tensor& weight;
  int64_t dim;
  double eps;
  std::shared_ptr<InnerSite> normalized;  // x / scale, before the weight (TL's hook_normalized)
};

// The site `normalized` of a norm module: its input over its scale, before the weight (and
// bias) multiply it, as TransformerLens's hook_normalized; HF's norms return only the product.
std::shared_ptr<InnerSite> normalized_site(Module& norm, int64_t dim);

// Dropout is the identity at inference; it exists so that the tree and the sites match HF's.
class Dropout : public Module {
 public:
  explicit Dropout(double p) : Module("Dropout"), p_(p) {}
  at::Tensor forward(const at::Tensor& x) const { return out(in(x)); }
  std::string extra_repr() const override { return "p=" + py_float(p_) + ", inplace=False"; }

 private:
  double p_;  // the training-time rate from config.json, shown as HF shows it
};

// HF's activation modules: GELUActivation (erf), NewGELUActivation (tanh), SiLUActivation.
class Activation : public Module {
 public:
  // act: config.json's hidden_act / activation_function value.
  explicit Activation(const std::string& act);
  at::Tensor forward(const at::Tensor& x) const;
  static bool supported(const std::string& act);

 private:
  enum Kind { kGelu, kGeluTanh, kSilu, kRelu } kind_;
};

// Rotary position embedding tables. Site: input = the hidden states it is called with,
// output = cos [B, T, R] (R = rotary dims), as HF's first output.
class RotaryEmbedding : public Module {
 public:
  // inv_freq stays float32 whatever the checkpoint's or the compute dtype: from_pretrained
  // casts parameters, never this buffer (transformers issue 30709). cos and sin are computed
  // in float32 and cast to the compute dtype, as transformers does. The theta and scaling
  // (linear, dynamic, llama3, yarn) are c's, computed op for op as modeling_rope_utils.py.
  RotaryEmbedding(std::string type, int64_t rotary_dim, const ModelConfig& c);
  // x: [B, T, D] (only its dtype is used), positions: [B, T] -> (cos, sin), each [B, T, R]
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& positions) const;
  int64_t rotary_dim;

 private:
  // dynamic: the frequencies for the batch's longest sequence, seq_len = max(positions) + 1
  at::Tensor dynamic_inv_freq(int64_t seq_len) const;

  at::Tensor inv_freq_;             // [R/2], float32
  double attention_scaling_ = 1.0;  // yarn: multiplies cos and sin
  double theta_;
  ModelConfig::RopeScaling scaling_;
  int64_t max_positions_;
};

// Applies rotary embedding to the first R dims of q or k: x [B, H, T, Dh], cos/sin [B, T, R].
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Per-layer key/value cache for generation, preallocated to a capacity.
struct LayerCache {
  at::Tensor k, v;  // [B, Hkv, capacity, Dh]
};

struct KVCache {
  std::vector<LayerCache> layers;
  int64_t len = 0;       // positions already cached
  int64_t capacity = 0;  // 0 = no cache (a plain forward pass)
};

// The sites inside one attention module, named as TransformerLens's hooks (docs/FORMAT.md):
// q, k, v (before rotary), q_rot, k_rot (after it; only where there is rotary), scores (scaled,
// soft-capped, masked keys -inf), pattern (softmax), z (each head's output before the output
// projection) and result (each head's term of the output projection, its bias excluded).
// scores and pattern: [B, T, H * K], K = max_keys, key j = the sequence's j-th real key (its
// token at position j), masked keys and j beyond the keys there are -inf (scores) or 0.
// Nothing is computed for a site nobody listens to.
class AttentionSites {
 public:
  AttentionSites(Module& attn, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t hidden, int64_t max_keys,
                 bool rotary);
  // x: [B, T, n * Dh] (a projection's heads side by side) -> the same after the site's hooks
  static at::Tensor flat(const std::shared_ptr<InnerSite>& s, const at::Tensor& x) {
    return s && s->wanted() ? s->run(x) : x;
  }
  // x: [B, n, T, Dh] -> the same after the site's hooks
  static at::Tensor heads(const std::shared_ptr<InnerSite>& s, const at::Tensor& x);
  // y: the output projection's output, z: its input [B, T, H * Dh], w_o: its weight as a
  // [H * Dh, D] matrix -> y, changed by whatever the result site's hooks change.
  at::Tensor result_site(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w_o) const;
  // scores or pattern x: [B, H, T, S] over cache slots -> the hooked values over slots, or an
  // undefined tensor when the hooks left them unchanged.
  at::Tensor keys_site(const InnerSite& s, const at::Tensor& x, const at::Tensor& key_mask, double fill) const;

  std::shared_ptr<InnerSite> q, k, v, q_rot, k_rot, scores, pattern, z, result;
};

// Causal scaled-dot-product attention with a key mask and an optional cache.
// q: [B, H, T, Dh]; k, v: [B, Hkv, T, Dh] for the new tokens; key_mask: [B, S] bool over all
// keys (cache then new, S = cache->len + T), true = a real token.
// Returns [B, T, H*Dh]. Appends k, v to the layer's cache when there is one. window > 0: a
// query sees only the last `window` positions, itself included (sliding-window attention).
// softcap > 0: scaled scores become softcap * tanh(scores / softcap) before the mask (Gemma 2).
// sites: the scores, pattern and z sites run here.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_mask,
                     double scale, KVCache* cache, int layer, int64_t window = 0, double softcap = 0,
                     const AttentionSites* sites = nullptr);

}  // namespace rig
