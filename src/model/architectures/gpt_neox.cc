// GPTNeoXForCausalLM (Pythia): fused query_key_value with HF's per-head [q k v] layout,
// partial rotary, parallel or sequential residual, untied embed_out.
#include <cmath>

#include "model/architectures/architectures.h"

namespace rig {
namespace {

class GPTNeoXAttention : public Module {
 public:
  GPTNeoXAttention(const ModelConfig& c, int layer)
      : Module("GPTNeoXAttention"),
        query_key_value(
            add("query_key_value", std::make_shared<Linear>(c.hidden_size, 3 * c.hidden_size, c.attention_bias))),
        dense(add("dense", std::make_shared<Linear>(c.hidden_size, c.hidden_size, c.attention_bias))),
        heads_(c.num_heads),
        head_dim_(c.head_dim),
        layer_(layer),
        sites_(*this, c.num_heads, c.num_heads, c.head_dim, c.hidden_size, c.max_positions, true) {}

  // x: [B, T, D] -> [B, T, D]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& key_mask,
                     KVCache* cache) {
    const at::Tensor h = in(x);
    const int64_t B = h.size(0), T = h.size(1);
    // qkv: [B, T, H, 3*Dh] -> [B, H, T, 3*Dh], then q, k, v = the three Dh-wide slices per head
    const at::Tensor qkv = query_key_value->forward(h).view({B, T, heads_, 3 * head_dim_}).transpose(1, 2);
    const auto& s = sites_;
    at::Tensor q = s.heads(s.q, qkv.narrow(-1, 0, head_dim_)), k = s.heads(s.k, qkv.narrow(-1, head_dim_, head_dim_));
    const at::Tensor v = s.heads(s.v, qkv.narrow(-1, 2 * head_dim_, head_dim_)).contiguous();
    q = s.heads(s.q_rot, apply_rotary(q, cos, sin));
    k = s.heads(s.k_rot, apply_rotary(k, cos, sin));
    const at::Tensor a = attention(q, k, v, key_mask, 1.0 / std::sqrt(double(head_dim_)), cache, layer_, 0, 0, &s);
    return out(s.result_site(dense->forward(a), a, dense->weight.t()));
  }

  std::shared_ptr<Linear> query_key_value, dense;

 private:
  int64_t heads_, head_dim_;
  int layer_;
  AttentionSites sites_;
};

class GPTNeoXMLP : public Module {
 public:
  explicit GPTNeoXMLP(const ModelConfig& c)
      : Module("GPTNeoXMLP"),
        dense_h_to_4h(add("dense_h_to_4h", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, true))),
        dense_4h_to_h(add("dense_4h_to_h", std::make_shared<Linear>(c.intermediate_size, c.hidden_size, true))),
        act(add("act", std::make_shared<Activation>(c.hidden_act))) {}

  at::Tensor forward(const at::Tensor& x) {  // [B, T, D] -> [B, T, D]
    return out(dense_4h_to_h->forward(act->forward(dense_h_to_4h->forward(in(x)))));
  }

  std::shared_ptr<Linear> dense_h_to_4h, dense_4h_to_h;
  std::shared_ptr<Activation> act;
};

class GPTNeoXLayer : public Module {
 public:
  GPTNeoXLayer(const ModelConfig& c, int layer)
      : Module("GPTNeoXLayer"),
        input_layernorm(add("input_layernorm", std::make_shared<LayerNorm>(c.hidden_size, c.norm_eps))),
        post_attention_layernorm(
            add("post_attention_layernorm", std::make_shared<LayerNorm>(c.hidden_size, c.norm_eps))),
        post_attention_dropout(add("post_attention_dropout", std::make_shared<Dropout>(c.resid_pdrop))),
        post_mlp_dropout(add("post_mlp_dropout", std::make_shared<Dropout>(c.resid_pdrop))),
        attention(add("attention", std::make_shared<GPTNeoXAttention>(c, layer))),
        mlp(add("mlp", std::make_shared<GPTNeoXMLP>(c))),
        parallel_(c.use_parallel_residual) {}

  at::Tensor forward(const at::Tensor& x0, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& key_mask,
                     KVCache* cache) {
    const at::Tensor x = in(x0);
    const at::Tensor a =
        post_attention_dropout->forward(attention->forward(input_layernorm->forward(x), cos, sin, key_mask, cache));
    if (parallel_) {
      // x = x + attn(ln1(x)) + mlp(ln2(x))
      const at::Tensor m = post_mlp_dropout->forward(mlp->forward(post_attention_layernorm->forward(x)));
      return out(m + a + x);
    }
    // h = x + attn(ln1(x)); x = h + mlp(ln2(h))
    const at::Tensor h = a + x;
    const at::Tensor m = post_mlp_dropout->forward(mlp->forward(post_attention_layernorm->forward(h)));
    return out(m + h);
  }

  std::shared_ptr<LayerNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<Dropout> post_attention_dropout, post_mlp_dropout;
  std::shared_ptr<GPTNeoXAttention> attention;
  std::shared_ptr<GPTNeoXMLP> mlp;

 private:
  bool parallel_;
};

class GPTNeoXModel : public Module {
 public:
  explicit GPTNeoXModel(const ModelConfig& c)
      : Module("GPTNeoXModel"),
        embed_in(add("embed_in", std::make_shared<Embedding>(c.vocab_size, c.hidden_size))),
        emb_dropout(add("emb_dropout", std::make_shared<Dropout>(c.resid_pdrop))),
        layers(add("layers", std::make_shared<ModuleList>())) {
    for (int i = 0; i < c.num_layers; ++i)
      layer_list.push_back(layers->add(std::to_string(i), std::make_shared<GPTNeoXLayer>(c, i)));
    final_layer_norm = add("final_layer_norm", std::make_shared<LayerNorm>(c.hidden_size, c.norm_eps));
    const auto rd = int64_t(double(c.head_dim) * c.partial_rotary_factor);
    rotary_emb = add("rotary_emb", std::make_shared<RotaryEmbedding>("GPTNeoXRotaryEmbedding", rd, c));
  }

  at::Tensor forward(const ForwardInput& input, KVCache* cache) {  // ids [B, T] -> [B, T, D]
    at::Tensor x = emb_dropout->forward(embed_in->forward(input.input_ids));
    const auto [cos, sin] = rotary_emb->forward(x, input.position_ids);
    for (auto& layer : layer_list) x = layer->forward(x, cos, sin, input.key_mask, cache);
    return out(final_layer_norm->forward(x));
  }

  std::shared_ptr<Embedding> embed_in;
  std::shared_ptr<Dropout> emb_dropout;
  std::shared_ptr<ModuleList> layers;
  std::vector<std::shared_ptr<GPTNeoXLayer>> layer_list;
  std::shared_ptr<LayerNorm> final_layer_norm;
  std::shared_ptr<RotaryEmbedding> rotary_emb;
};

class GPTNeoXForCausalLM : public CausalLM {
 public:
  explicit GPTNeoXForCausalLM(const ModelConfig& c)
      : CausalLM("GPTNeoXForCausalLM", c),
        gpt_neox(add("gpt_neox", std::make_shared<GPTNeoXModel>(c))),
        embed_out(add("embed_out", std::make_shared<Linear>(c.hidden_size, c.vocab_size, false))) {
    finalize_tree();
  }

  std::vector<std::string> key_aliases(const std::string& key) const override {
    if (key == "embed_out.weight") return {"lm_head.weight"};  // transformers 5's name
    return {};
  }
  std::optional<std::string> tied_to(const std::string& key) const override {
    if (config_.tie_word_embeddings && key == "embed_out.weight") return "gpt_neox.embed_in.weight";
    return std::nullopt;
  }
  std::map<std::string, std::string> site_aliases() const override { return {{"lm_head", "embed_out"}}; }

 protected:
  at::Tensor forward_impl(const ForwardInput& input, KVCache* cache, LogitsFor logits_for) override {
    const at::Tensor h = gpt_neox->forward(input, cache);
    return embed_out->forward(head_input(h, logits_for, *embed_out));
  }

 private:
  std::shared_ptr<GPTNeoXModel> gpt_neox;
  std::shared_ptr<Linear> embed_out;
};

}  // namespace

std::unique_ptr<CausalLM> make_gpt_neox(const ModelConfig& c) { return std::make_unique<GPTNeoXForCausalLM>(c); }

}  // namespace rig
