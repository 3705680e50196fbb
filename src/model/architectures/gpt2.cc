// GPT2LMHeadModel: Conv1D (transposed) weights, learned positions, gelu_new, lm_head tied
// unless tie_word_embeddings is false.
#include <cmath>

#include "model/architectures/architectures.h"

namespace rig {
namespace {

class GPT2Attention : public Module {
 public:
  GPT2Attention(const ModelConfig& c, int layer)
      : Module("GPT2Attention"),
        c_attn(add("c_attn", std::make_shared<Conv1D>(3 * c.hidden_size, c.hidden_size))),
        c_proj(add("c_proj", std::make_shared<Conv1D>(c.hidden_size, c.hidden_size))),
        // Applied to attention probabilities only by HF's eager attention; HF's default (sdpa)
        // never calls it, and neither does rig: it is listed, as in HF's tree, but not called.
        attn_dropout(add("attn_dropout", std::make_shared<Dropout>(c.attn_pdrop))),
        resid_dropout(add("resid_dropout", std::make_shared<Dropout>(c.resid_pdrop))),
        heads_(c.num_heads),
        head_dim_(c.head_dim),
        width_(c.hidden_size),
        layer_(layer),
        scale_((c.scale_attn_weights ? 1.0 / std::sqrt(double(c.head_dim)) : 1.0) /
               (c.scale_attn_by_inverse_layer_idx ? double(layer + 1) : 1.0)),
        sites_(*this, c.num_heads, c.num_heads, c.head_dim, c.hidden_size, c.max_positions, false) {}

  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_mask, KVCache* cache) {  // [B, T, D] -> [B, T, D]
    const at::Tensor h = in(x);
    const int64_t B = h.size(0), T = h.size(1);
    const at::Tensor qkv = c_attn->forward(h);  // [B, T, 3D] = [q | k | v]
    auto heads = [&](int64_t i) {
      return qkv.narrow(-1, i * width_, width_).view({B, T, heads_, head_dim_}).transpose(1, 2);
    };
    const auto& s = sites_;
    const at::Tensor a = attention(s.heads(s.q, heads(0)), s.heads(s.k, heads(1)), s.heads(s.v, heads(2)), key_mask,
                                   scale_, cache, layer_, 0, 0, &s);
    // resid_dropout is the identity: the result site's heads sum to c_proj's output
    return out(resid_dropout->forward(s.result_site(c_proj->forward(a), a, c_proj->weight)));
  }

  std::shared_ptr<Conv1D> c_attn, c_proj;
  std::shared_ptr<Dropout> attn_dropout, resid_dropout;

 private:
  int64_t heads_, head_dim_, width_;
  int layer_;
  double scale_;  // of the scores; reorder_and_upcast_attn changes nothing here (scores are float32)
  AttentionSites sites_;
};

class GPT2MLP : public Module {
 public:
  explicit GPT2MLP(const ModelConfig& c)
      : Module("GPT2MLP"),
        c_fc(add("c_fc", std::make_shared<Conv1D>(c.intermediate_size, c.hidden_size))),
        c_proj(add("c_proj", std::make_shared<Conv1D>(c.hidden_size, c.intermediate_size))),
        act(add("act", std::make_shared<Activation>(c.hidden_act.empty() ? "gelu_new" : c.hidden_act))),
        dropout(add("dropout", std::make_shared<Dropout>(c.resid_pdrop))) {}

  at::Tensor forward(const at::Tensor& x) {
    return out(dropout->forward(c_proj->forward(act->forward(c_fc->forward(in(x))))));
  }

  std::shared_ptr<Conv1D> c_fc, c_proj;
  std::shared_ptr<Activation> act;
  std::shared_ptr<Dropout> dropout;
};

class GPT2Block : public Module {
 public:
  GPT2Block(const ModelConfig& c, int layer)
      : Module("GPT2Block"),
        ln_1(add("ln_1", std::make_shared<LayerNorm>(c.hidden_size, c.norm_eps))),
        attn(add("attn", std::make_shared<GPT2Attention>(c, layer))),
        ln_2(add("ln_2", std::make_shared<LayerNorm>(c.hidden_size, c.norm_eps))),
        mlp(add("mlp", std::make_shared<GPT2MLP>(c))) {}

  at::Tensor forward(const at::Tensor& x0, const at::Tensor& key_mask, KVCache* cache) {
    const at::Tensor x = in(x0);
    const at::Tensor h = x + attn->forward(ln_1->forward(x), key_mask, cache);  // h = x + attn(ln_1(x))
    return out(h + mlp->forward(ln_2->forward(h)));                             // x = h + mlp(ln_2(h))
  }

  std::shared_ptr<LayerNorm> ln_1;
  std::shared_ptr<GPT2Attention> attn;
  std::shared_ptr<LayerNorm> ln_2;
  std::shared_ptr<GPT2MLP> mlp;
};

class GPT2Model : public Module {
 public:
  explicit GPT2Model(const ModelConfig& c)
      : Module("GPT2Model"),
        wte(add("wte", std::make_shared<Embedding>(c.vocab_size, c.hidden_size))),
        wpe(add("wpe", std::make_shared<Embedding>(c.max_positions, c.hidden_size))),
        drop(add("drop", std::make_shared<Dropout>(c.embd_pdrop))),
        h(add("h", std::make_shared<ModuleList>())) {
    for (int i = 0; i < c.num_layers; ++i)
      blocks.push_back(h->add(std::to_string(i), std::make_shared<GPT2Block>(c, i)));
    ln_f = add("ln_f", std::make_shared<LayerNorm>(c.hidden_size, c.norm_eps));
  }

  at::Tensor forward(const ForwardInput& input, KVCache* cache) {
    at::Tensor x = drop->forward(wte->forward(input.input_ids) + wpe->forward(input.position_ids));
    for (auto& b : blocks) x = b->forward(x, input.key_mask, cache);
    return out(ln_f->forward(x));
  }

  std::shared_ptr<Embedding> wte, wpe;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<ModuleList> h;
  std::vector<std::shared_ptr<GPT2Block>> blocks;
  std::shared_ptr<LayerNorm> ln_f;
};

class GPT2LMHeadModel : public CausalLM {
 public:
  explicit GPT2LMHeadModel(const ModelConfig& c)
      : CausalLM("GPT2LMHeadModel", c),
        transformer(add("transformer", std::make_shared<GPT2Model>(c))),
        lm_head(add("lm_head", std::make_shared<Linear>(c.hidden_size, c.vocab_size, false))) {
    finalize_tree();
  }

  std::vector<std::string> key_aliases(const std::string& key) const override {
    // The original OpenAI/GPT-2 checkpoints store GPT2Model's keys without "transformer.".
    const std::string prefix = "transformer.";
    if (key.rfind(prefix, 0) == 0) return {key.substr(prefix.size())};
    return {};
  }
  std::optional<std::string> tied_to(const std::string& key) const override {
    if (config_.tie_word_embeddings && key == "lm_head.weight") return "transformer.wte.weight";
    return std::nullopt;
  }

 protected:
  at::Tensor forward_impl(const ForwardInput& input, KVCache* cache, LogitsFor logits_for) override {
    const at::Tensor h = transformer->forward(input, cache);
    return lm_head->forward(head_input(h, logits_for, *lm_head));
  }

 private:
  std::shared_ptr<GPT2Model> transformer;
  std::shared_ptr<Linear> lm_head;
};

}  // namespace

std::unique_ptr<CausalLM> make_gpt2(const ModelConfig& c) { return std::make_unique<GPT2LMHeadModel>(c); }

}  // namespace rig
