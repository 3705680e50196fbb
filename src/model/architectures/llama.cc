// LlamaForCausalLM: RMSNorm, SwiGLU MLP (act_fn on the gate), rotary with rope_theta,
// grouped- and multi-query attention, tied or untied lm_head. The classes are shared with
// the Llama family (llama_family.h), whose members change biases, norms and windows.
#include <cmath>
#include <optional>

#include "model/architectures/llama_family.h"

namespace rig {
namespace {

class LlamaAttention : public Module {
 public:
  LlamaAttention(const ModelConfig& c, const LlamaFamily& f, int layer)
      : Module(f.prefix + "Attention"),
        q_proj(add("q_proj", std::make_shared<Linear>(c.hidden_size, c.num_heads * c.head_dim, f.qkv_bias))),
        k_proj(add("k_proj", std::make_shared<Linear>(c.hidden_size, c.num_kv_heads * c.head_dim, f.qkv_bias))),
        v_proj(add("v_proj", std::make_shared<Linear>(c.hidden_size, c.num_kv_heads * c.head_dim, f.qkv_bias))),
        o_proj(add("o_proj", std::make_shared<Linear>(c.num_heads * c.head_dim, c.hidden_size, f.o_bias))),
        heads_(c.num_heads),
        kv_heads_(c.num_kv_heads),
        head_dim_(c.head_dim),
        layer_(layer),
        // sliding_layers is empty in configs made in code (tests, rig train): no windows
        window_(size_t(layer) < c.sliding_layers.size() && c.sliding_layers[size_t(layer)] ? c.sliding_window : 0) {
    if (f.qk_norm) {
      q_norm = add("q_norm", std::make_shared<RMSNorm>(f.prefix + "RMSNorm", c.head_dim, c.norm_eps));
      k_norm = add("k_norm", std::make_shared<RMSNorm>(f.prefix + "RMSNorm", c.head_dim, c.norm_eps));
    }
    sites_.emplace(*this, c.num_heads, c.num_kv_heads, c.head_dim, c.hidden_size, c.max_positions, true);
  }

  // x: [B, T, D] -> [B, T, D]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& key_mask,
                     KVCache* cache) {
    const at::Tensor h = in(x);
    const int64_t B = h.size(0), T = h.size(1);
    // [B, T, n*Dh] -> [B, n, T, Dh], after the per-head norm where there is one
    auto split = [&](at::Tensor t, int64_t n, const std::shared_ptr<InnerSite>& site,
                     const std::shared_ptr<RMSNorm>& norm) {
      t = AttentionSites::flat(site, t);
      if (norm) t = norm->forward(t);
      return t.view({B, T, n, head_dim_}).transpose(1, 2);
    };
    const auto& s = *sites_;
    const at::Tensor q = s.heads(s.q_rot, apply_rotary(split(q_proj->forward(h), heads_, s.q, q_norm), cos, sin));
    const at::Tensor k = s.heads(s.k_rot, apply_rotary(split(k_proj->forward(h), kv_heads_, s.k, k_norm), cos, sin));
    const at::Tensor v = split(v_proj->forward(h), kv_heads_, s.v, nullptr);
    const at::Tensor a =
        attention(q, k, v, key_mask, 1.0 / std::sqrt(double(head_dim_)), cache, layer_, window_, 0, &s);
    return out(s.result_site(o_proj->forward(a), a, o_proj->weight.t()));
  }

  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<RMSNorm> q_norm, k_norm;  // Qwen3 only

 private:
  int64_t heads_, kv_heads_, head_dim_;
  int layer_;
  int64_t window_;                       // 0: the layer sees every earlier position
  std::optional<AttentionSites> sites_;  // made once the members above exist
};

class LlamaMLP : public Module {
 public:
  LlamaMLP(const ModelConfig& c, const LlamaFamily& f)
      : Module(f.prefix + "MLP"),
        gate_proj(add("gate_proj", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, f.mlp_bias))),
        up_proj(add("up_proj", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, f.mlp_bias))),
        down_proj(add("down_proj", std::make_shared<Linear>(c.intermediate_size, c.hidden_size, f.mlp_bias))),
        act_fn(add("act_fn", std::make_shared<Activation>(c.hidden_act.empty() ? "silu" : c.hidden_act))) {}

  at::Tensor forward(const at::Tensor& x0) {  // down(act(gate(x)) * up(x))
    const at::Tensor x = in(x0);
    return out(down_proj->forward(act_fn->forward(gate_proj->forward(x)) * up_proj->forward(x)));
  }

  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
  std::shared_ptr<Activation> act_fn;
};

class LlamaDecoderLayer : public Module {
 public:
  LlamaDecoderLayer(const ModelConfig& c, const LlamaFamily& f, int layer)
      : Module(f.prefix + "DecoderLayer"),
        self_attn(add("self_attn", std::make_shared<LlamaAttention>(c, f, layer))),
        mlp(add("mlp", std::make_shared<LlamaMLP>(c, f))),
        input_layernorm(
            add("input_layernorm", std::make_shared<RMSNorm>(f.prefix + "RMSNorm", c.hidden_size, c.norm_eps))),
        post_attention_layernorm(add("post_attention_layernorm",
                                     std::make_shared<RMSNorm>(f.prefix + "RMSNorm", c.hidden_size, c.norm_eps))) {}

  at::Tensor forward(const at::Tensor& x0, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& key_mask,
                     KVCache* cache) {
    const at::Tensor x = in(x0);
    const at::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, key_mask, cache);
    return out(h + mlp->forward(post_attention_layernorm->forward(h)));
  }

  std::shared_ptr<LlamaAttention> self_attn;
  std::shared_ptr<LlamaMLP> mlp;
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
};

class LlamaModel : public Module {
 public:
  LlamaModel(const ModelConfig& c, const LlamaFamily& f)
      : Module(f.prefix + "Model"),
        embed_tokens(add("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.hidden_size))),
        layers(add("layers", std::make_shared<ModuleList>())) {
    for (int i = 0; i < c.num_layers; ++i)
      layer_list.push_back(layers->add(std::to_string(i), std::make_shared<LlamaDecoderLayer>(c, f, i)));
    norm = add("norm", std::make_shared<RMSNorm>(f.prefix + "RMSNorm", c.hidden_size, c.norm_eps));
    const auto rd = int64_t(double(c.head_dim) * c.partial_rotary_factor);
    rotary_emb = add("rotary_emb", std::make_shared<RotaryEmbedding>(f.prefix + "RotaryEmbedding", rd, c));
  }

  at::Tensor forward(const ForwardInput& input, KVCache* cache) {
    at::Tensor x = embed_tokens->forward(input.input_ids);
    const auto [cos, sin] = rotary_emb->forward(x, input.position_ids);
    for (auto& layer : layer_list) x = layer->forward(x, cos, sin, input.key_mask, cache);
    return out(norm->forward(x));
  }

  std::shared_ptr<Embedding> embed_tokens;
  std::shared_ptr<ModuleList> layers;
  std::vector<std::shared_ptr<LlamaDecoderLayer>> layer_list;
  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<RotaryEmbedding> rotary_emb;
};

class LlamaForCausalLM : public CausalLM {
 public:
  LlamaForCausalLM(const ModelConfig& c, const LlamaFamily& f)
      : CausalLM(f.prefix + "ForCausalLM", c),
        model(add("model", std::make_shared<LlamaModel>(c, f))),
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
    return lm_head->forward(head_input(h, logits_for, *lm_head));
  }

 private:
  std::shared_ptr<LlamaModel> model;
  std::shared_ptr<Linear> lm_head;
};

}  // namespace

std::unique_ptr<CausalLM> make_llama_family(const ModelConfig& c, const LlamaFamily& f) {
  return std::make_unique<LlamaForCausalLM>(c, f);
}

std::unique_ptr<CausalLM> make_llama(const ModelConfig& c) {
  return make_llama_family(c, {"Llama", c.attention_bias, c.attention_bias, c.mlp_bias, false});
}

}  // namespace rig
