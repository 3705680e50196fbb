// Gemma2ForCausalLM, op for op as transformers' modeling_gemma2.py: embeddings scaled by
// sqrt(hidden_size), RMSNorm with weight (1 + w) in float32, four norms per layer (the
// attention's and the MLP's outputs are normed before their residual add), a GeGLU MLP
// (hidden_activation), an explicit head_dim, scores scaled by query_pre_attn_scalar^-0.5 and
// soft-capped (cap * tanh(x / cap)) before the mask, sliding and global layers alternating
// (layer_types), grouped-query attention, and soft-capped final logits.
//
// The soft-capping of the attention scores is part of the model: transformers' eager
// attention computes it, its default sdpa attention ignores it (transformers 5.17 loads
// Gemma 2 with sdpa; the oracle loads it with attn_implementation="eager", docs/ORACLE.md).
#include <cmath>
#include <optional>

#include "model/architectures/architectures.h"

namespace rig {
namespace {

// Gemma2RMSNorm: (x.float() * rsqrt(mean(x^2) + eps)) * (1.0 + w.float()), then cast back
// (Llama casts before the weight; Gemma multiplies in float32, transformers PR 29402).
class Gemma2RMSNorm : public Module {
 public:
  Gemma2RMSNorm(int64_t d, double e)
      : Module("Gemma2RMSNorm"), weight(param("weight", {d})), dim(d), eps(e), normalized(normalized_site(*this, d)) {}

  at::Tensor forward(const at::Tensor& x) const {
    const at::Tensor h = in(x);
    const at::Tensor h32 = h.to(at::kFloat);
    at::Tensor normed = h32 * at::rsqrt(h32.pow(2).mean(-1, /*keepdim=*/true) + eps);
    if (normalized->wanted()) normed = normalized->run(normed);  // float32, as the product that follows
    return out((normed * (weight.to(at::kFloat) + 1.0)).to(h.scalar_type()));
  }
  std::string extra_repr() const override { return "(" + std::to_string(dim) + ",), eps=" + py_float(eps); }

  at::Tensor& weight;
  int64_t dim;
  double eps;
  std::shared_ptr<InnerSite> normalized;  // x / scale, before (1 + w) (TL's hook_normalized)
};

// Gemma2TextScaledWordEmbedding: the embedding times sqrt(hidden_size), where the factor is
// transformers' embed_scale buffer, hidden_size**0.5 as a tensor of the weights' dtype (so
// bfloat16 multiplies by 55.5, not 55.4256, for hidden 3072). The site's output is scaled.
class Gemma2ScaledEmbedding : public Module {
 public:
  Gemma2ScaledEmbedding(int64_t n, int64_t d, std::optional<int64_t> padding_idx)
      : Module("Gemma2TextScaledWordEmbedding"),
        weight(param("weight", {n, d})),
        num(n),
        dim(d),
        padding_idx_(padding_idx),
        scale_(std::pow(double(d), 0.5)) {}

  at::Tensor forward(const at::Tensor& ids) const {
    return out(at::embedding(weight, ids) * at::scalar_tensor(scale_, weight.options()));
  }
  std::string extra_repr() const override {
    return std::to_string(num) + ", " + std::to_string(dim) +
           (padding_idx_ ? ", padding_idx=" + std::to_string(*padding_idx_) : "");
  }

  at::Tensor& weight;
  int64_t num, dim;

 private:
  std::optional<int64_t> padding_idx_;  // only shown: it matters for training alone
  double scale_;
};

class Gemma2Attention : public Module {
 public:
  Gemma2Attention(const ModelConfig& c, int layer)
      : Module("Gemma2Attention"),
        q_proj(add("q_proj", std::make_shared<Linear>(c.hidden_size, c.num_heads * c.head_dim, c.attention_bias))),
        k_proj(add("k_proj", std::make_shared<Linear>(c.hidden_size, c.num_kv_heads * c.head_dim, c.attention_bias))),
        v_proj(add("v_proj", std::make_shared<Linear>(c.hidden_size, c.num_kv_heads * c.head_dim, c.attention_bias))),
        o_proj(add("o_proj", std::make_shared<Linear>(c.num_heads * c.head_dim, c.hidden_size, c.attention_bias))),
        heads_(c.num_heads),
        kv_heads_(c.num_kv_heads),
        head_dim_(c.head_dim),
        layer_(layer),
        // transformers: query_pre_attn_scalar**-0.5, a Python float
        scale_(std::pow(c.query_pre_attn_scalar, -0.5)),
        softcap_(c.attn_logit_softcapping.value_or(0)),
        window_(size_t(layer) < c.sliding_layers.size() && c.sliding_layers[size_t(layer)] ? c.sliding_window : 0) {
    sites_.emplace(*this, c.num_heads, c.num_kv_heads, c.head_dim, c.hidden_size, c.max_positions, true);
  }

  // x: [B, T, D] -> [B, T, D]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& key_mask,
                     KVCache* cache) {
    const at::Tensor h = in(x);
    const int64_t B = h.size(0), T = h.size(1);
    auto split = [&](const at::Tensor& t, int64_t n, const std::shared_ptr<InnerSite>& site) {
      return AttentionSites::flat(site, t).view({B, T, n, head_dim_}).transpose(1, 2);
    };
    const auto& s = *sites_;
    const at::Tensor q = s.heads(s.q_rot, apply_rotary(split(q_proj->forward(h), heads_, s.q), cos, sin));
    const at::Tensor k = s.heads(s.k_rot, apply_rotary(split(k_proj->forward(h), kv_heads_, s.k), cos, sin));
    const at::Tensor v = split(v_proj->forward(h), kv_heads_, s.v);
    const at::Tensor a = attention(q, k, v, key_mask, scale_, cache, layer_, window_, softcap_, &s);
    return out(s.result_site(o_proj->forward(a), a, o_proj->weight.t()));
  }

  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;

 private:
  int64_t heads_, kv_heads_, head_dim_;
  int layer_;
  double scale_;
  double softcap_;                       // 0: none (config.json null)
  int64_t window_;                       // 0: the layer sees every earlier position
  std::optional<AttentionSites> sites_;  // made once the members above exist
};

class Gemma2MLP : public Module {
 public:
  explicit Gemma2MLP(const ModelConfig& c)
      : Module("Gemma2MLP"),
        gate_proj(add("gate_proj", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, false))),
        up_proj(add("up_proj", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, false))),
        down_proj(add("down_proj", std::make_shared<Linear>(c.intermediate_size, c.hidden_size, false))),
        act_fn(add("act_fn", std::make_shared<Activation>(c.hidden_act))) {}

  at::Tensor forward(const at::Tensor& x0) {  // down(act(gate(x)) * up(x))
    const at::Tensor x = in(x0);
    return out(down_proj->forward(act_fn->forward(gate_proj->forward(x)) * up_proj->forward(x)));
  }

  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
  std::shared_ptr<Activation> act_fn;
};

class Gemma2DecoderLayer : public Module {
 public:
  Gemma2DecoderLayer(const ModelConfig& c, int layer)
      : Module("Gemma2DecoderLayer"),
        self_attn(add("self_attn", std::make_shared<Gemma2Attention>(c, layer))),
        mlp(add("mlp", std::make_shared<Gemma2MLP>(c))),
        input_layernorm(add("input_layernorm", norm(c))),
        post_attention_layernorm(add("post_attention_layernorm", norm(c))),
        pre_feedforward_layernorm(add("pre_feedforward_layernorm", norm(c))),
        post_feedforward_layernorm(add("post_feedforward_layernorm", norm(c))) {}

  at::Tensor forward(const at::Tensor& x0, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& key_mask,
                     KVCache* cache) {
    const at::Tensor x = in(x0);
    const at::Tensor a = self_attn->forward(input_layernorm->forward(x), cos, sin, key_mask, cache);
    const at::Tensor h = x + post_attention_layernorm->forward(a);
    const at::Tensor m = mlp->forward(pre_feedforward_layernorm->forward(h));
    return out(h + post_feedforward_layernorm->forward(m));
  }

  std::shared_ptr<Gemma2Attention> self_attn;
  std::shared_ptr<Gemma2MLP> mlp;
  std::shared_ptr<Gemma2RMSNorm> input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
      post_feedforward_layernorm;

 private:
  static std::shared_ptr<Gemma2RMSNorm> norm(const ModelConfig& c) {
    return std::make_shared<Gemma2RMSNorm>(c.hidden_size, c.norm_eps);
  }
};

class Gemma2Model : public Module {
 public:
  explicit Gemma2Model(const ModelConfig& c)
      : Module("Gemma2Model"),
        embed_tokens(
            add("embed_tokens", std::make_shared<Gemma2ScaledEmbedding>(c.vocab_size, c.hidden_size, c.pad_token_id))),
        layers(add("layers", std::make_shared<ModuleList>())) {
    for (int i = 0; i < c.num_layers; ++i)
      layer_list.push_back(layers->add(std::to_string(i), std::make_shared<Gemma2DecoderLayer>(c, i)));
    norm = add("norm", std::make_shared<Gemma2RMSNorm>(c.hidden_size, c.norm_eps));
    // The default rope turns all of head_dim (Gemma2's compute_default_rope_parameters);
    // the scaled types take partial_rotary_factor (modeling_rope_utils.py).
    const double fraction = c.rope_scaling.type == "default" ? 1.0 : c.partial_rotary_factor;
    const auto rd = int64_t(double(c.head_dim) * fraction);
    rotary_emb = add("rotary_emb", std::make_shared<RotaryEmbedding>("Gemma2RotaryEmbedding", rd, c));
  }

  at::Tensor forward(const ForwardInput& input, KVCache* cache) {
    at::Tensor x = embed_tokens->forward(input.input_ids);
    const auto [cos, sin] = rotary_emb->forward(x, input.position_ids);
    for (auto& layer : layer_list) x = layer->forward(x, cos, sin, input.key_mask, cache);
    return out(norm->forward(x));
  }

  std::shared_ptr<Gemma2ScaledEmbedding> embed_tokens;
  std::shared_ptr<ModuleList> layers;
  std::vector<std::shared_ptr<Gemma2DecoderLayer>> layer_list;
  std::shared_ptr<Gemma2RMSNorm> norm;
  std::shared_ptr<RotaryEmbedding> rotary_emb;
};

class Gemma2ForCausalLM : public CausalLM {
 public:
  explicit Gemma2ForCausalLM(const ModelConfig& c)
      : CausalLM("Gemma2ForCausalLM", c),
        model(add("model", std::make_shared<Gemma2Model>(c))),
        lm_head(add("lm_head", std::make_shared<Linear>(c.hidden_size, c.vocab_size, false))) {
    finalize_tree();
  }

  std::optional<std::string> tied_to(const std::string& key) const override {
    if (config_.tie_word_embeddings && key == "lm_head.weight") return "model.embed_tokens.weight";
    return std::nullopt;
  }

 protected:
  at::Tensor forward_impl(const ForwardInput& input, KVCache* cache, LogitsFor logits_for) override {
    const at::Tensor h = model->forward(input, cache);
    at::Tensor logits = lm_head->forward(head_input(h, logits_for, *lm_head));
    // After lm_head, in Gemma2ForCausalLM.forward: the lm_head site holds the logits before
    // the cap, as transformers' hook on lm_head sees them; generation reads the capped ones.
    if (const auto& cap = config_.final_logit_softcapping) logits = at::tanh(logits / *cap) * *cap;
    return logits;
  }

 private:
  std::shared_ptr<Gemma2Model> model;
  std::shared_ptr<Linear> lm_head;
};

}  // namespace

std::unique_ptr<CausalLM> make_gemma2(const ModelConfig& c) { return std::make_unique<Gemma2ForCausalLM>(c); }

}  // namespace rig
