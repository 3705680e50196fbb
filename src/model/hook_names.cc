// TransformerLens's hook names, per architecture. Each row maps a name (as TransformerLens's
// HookedTransformer spells it, {i} = layer) to the HF site and side holding the same tensor,
// checked against TransformerLens itself by tests/oracle/test_transformer_lens.py:
//   hook_embed          the token embedding (Gemma 2: already times sqrt(D), as TL's W_E)
//   hook_resid_pre      decoder layer i's input;  hook_resid_post: its output
//   hook_resid_mid      resid_pre + attention's contribution = the input of the norm before the MLP
//   hook_attn_out       attention's contribution to the residual (Gemma 2: after its post-norm)
//   hook_mlp_out        the MLP's contribution (Gemma 2: after its post-norm)
//   mlp.hook_pre        the activation function's input (gated MLPs: the gate's pre-activation)
//   mlp.hook_pre_linear gated MLPs: the up projection;  mlp.hook_post: what the down projection reads
//   unembed.hook_in     the final norm's output;  unembed.hook_out: the head's (the logits)
//   ln*.hook_normalized a norm's input over its scale, before its weight (and bias): the norm
//                       module's inner site `normalized` (ln_final: the final norm's)
//   attn.hook_*         the sites inside attention (q, k, v before rotary; q_rot, k_rot after;
//                       scores, pattern, z, result), under the attention module.
#include "model/hook_names.h"

#include <cstring>

namespace rig {
namespace {

constexpr Side kIn = Side::kInput, kOut = Side::kOutput;

struct Row {
  const char* alias;
  const char* site;  // {i} = layer
  Side side;
  const char* unavailable = nullptr;  // the name exists in TL, not as a tensor of this model: why
  bool sequential_only = false;       // GPT-NeoX: absent with use_parallel_residual
};

// Sites inside attention, under the attention module {a}.
struct AttnRow {
  const char* alias;
  const char* suffix;
  bool rotary;  // exists only where the architecture has rotary embeddings
};
constexpr AttnRow kAttention[] = {
    {"hook_q", "q", false},
    {"hook_k", "k", false},
    {"hook_v", "v", false},
    {"hook_rot_q", "q_rot", true},
    {"hook_rot_k", "k_rot", true},
    {"hook_attn_scores", "scores", false},
    {"hook_pattern", "pattern", false},
    {"hook_z", "z", false},
    {"hook_result", "result", false},
};

struct Table {
  const char* model_types[4];
  const char* attention;   // the attention module, {i} = layer
  const char* final_norm;  // its output: unembed.hook_in
  const char* head;        // its output: unembed.hook_out (the logits, before Gemma 2's soft-cap as in TL)
  bool rotary;
  std::vector<Row> rows;
};

const std::vector<Table>& tables() {
  static const std::vector<Table> t = {
      {{"gpt_neox"},
       "gpt_neox.layers.{i}.attention",
       "gpt_neox.final_layer_norm",
       "embed_out",
       true,
       {
           {"hook_embed", "gpt_neox.embed_in", kOut},
           {"blocks.{i}.hook_resid_pre", "gpt_neox.layers.{i}", kIn},
           {"blocks.{i}.hook_resid_mid", "gpt_neox.layers.{i}.post_attention_layernorm", kIn,
            "GPT-NeoX with use_parallel_residual (config.json) adds attention and MLP to the residual at once "
            "(x + attn(ln1(x)) + mlp(ln2(x))), so there is no resid_mid, as in TransformerLens's "
            "parallel_attn_mlp; the MLP's norm reads hook_resid_pre",
            true},
           {"blocks.{i}.hook_resid_post", "gpt_neox.layers.{i}", kOut},
           {"blocks.{i}.hook_attn_out", "gpt_neox.layers.{i}.attention", kOut},
           {"blocks.{i}.hook_mlp_out", "gpt_neox.layers.{i}.mlp", kOut},
           {"blocks.{i}.mlp.hook_pre", "gpt_neox.layers.{i}.mlp.act", kIn},
           {"blocks.{i}.mlp.hook_post", "gpt_neox.layers.{i}.mlp.act", kOut},
           {"blocks.{i}.ln1.hook_normalized", "gpt_neox.layers.{i}.input_layernorm.normalized", kOut},
           {"blocks.{i}.ln2.hook_normalized", "gpt_neox.layers.{i}.post_attention_layernorm.normalized", kOut},
       }},
      {{"gpt2"},
       "transformer.h.{i}.attn",
       "transformer.ln_f",
       "lm_head",
       false,
       {
           {"hook_embed", "transformer.wte", kOut},
           {"hook_pos_embed", "transformer.wpe", kOut},
           {"blocks.{i}.hook_resid_pre", "transformer.h.{i}", kIn},
           {"blocks.{i}.hook_resid_mid", "transformer.h.{i}.ln_2", kIn},
           {"blocks.{i}.hook_resid_post", "transformer.h.{i}", kOut},
           {"blocks.{i}.hook_attn_out", "transformer.h.{i}.attn", kOut},
           {"blocks.{i}.hook_mlp_out", "transformer.h.{i}.mlp", kOut},
           {"blocks.{i}.mlp.hook_pre", "transformer.h.{i}.mlp.act", kIn},
           {"blocks.{i}.mlp.hook_post", "transformer.h.{i}.mlp.act", kOut},
           {"blocks.{i}.ln1.hook_normalized", "transformer.h.{i}.ln_1.normalized", kOut},
           {"blocks.{i}.ln2.hook_normalized", "transformer.h.{i}.ln_2.normalized", kOut},
       }},
      {{"llama", "qwen2", "qwen3", "mistral"},
       "model.layers.{i}.self_attn",
       "model.norm",
       "lm_head",
       true,
       {
           {"hook_embed", "model.embed_tokens", kOut},
           {"blocks.{i}.hook_resid_pre", "model.layers.{i}", kIn},
           {"blocks.{i}.hook_resid_mid", "model.layers.{i}.post_attention_layernorm", kIn},
           {"blocks.{i}.hook_resid_post", "model.layers.{i}", kOut},
           {"blocks.{i}.hook_attn_out", "model.layers.{i}.self_attn", kOut},
           {"blocks.{i}.hook_mlp_out", "model.layers.{i}.mlp", kOut},
           {"blocks.{i}.mlp.hook_pre", "model.layers.{i}.mlp.act_fn", kIn},
           {"blocks.{i}.mlp.hook_pre_linear", "model.layers.{i}.mlp.up_proj", kOut},
           {"blocks.{i}.mlp.hook_post", "model.layers.{i}.mlp.down_proj", kIn},
           {"blocks.{i}.ln1.hook_normalized", "model.layers.{i}.input_layernorm.normalized", kOut},
           {"blocks.{i}.ln2.hook_normalized", "model.layers.{i}.post_attention_layernorm.normalized", kOut},
       }},
      {{"gemma2"},
       "model.layers.{i}.self_attn",
       "model.norm",
       "lm_head",
       true,
       {
           {"hook_embed", "model.embed_tokens", kOut},
           {"blocks.{i}.hook_resid_pre", "model.layers.{i}", kIn},
           {"blocks.{i}.hook_resid_mid", "model.layers.{i}.pre_feedforward_layernorm", kIn},
           {"blocks.{i}.hook_resid_post", "model.layers.{i}", kOut},
           {"blocks.{i}.hook_attn_out", "model.layers.{i}.post_attention_layernorm", kOut},
           {"blocks.{i}.hook_mlp_out", "model.layers.{i}.post_feedforward_layernorm", kOut},
           {"blocks.{i}.mlp.hook_pre", "model.layers.{i}.mlp.act_fn", kIn},
           {"blocks.{i}.mlp.hook_pre_linear", "model.layers.{i}.mlp.up_proj", kOut},
           {"blocks.{i}.mlp.hook_post", "model.layers.{i}.mlp.down_proj", kIn},
           {"blocks.{i}.ln1.hook_normalized", "model.layers.{i}.input_layernorm.normalized", kOut},
           {"blocks.{i}.ln1_post.hook_normalized", "model.layers.{i}.post_attention_layernorm.normalized", kOut},
           {"blocks.{i}.ln2.hook_normalized", "model.layers.{i}.pre_feedforward_layernorm.normalized", kOut},
           {"blocks.{i}.ln2_post.hook_normalized", "model.layers.{i}.post_feedforward_layernorm.normalized", kOut},
       }},
  };
  return t;
}

const Table* find(const std::string& model_type) {
  for (const auto& t : tables())
    for (const char* m : t.model_types)
      if (m && model_type == m) return &t;
  return nullptr;
}

std::string with_layer(std::string s, int64_t i) {
  for (size_t p; (p = s.find("{i}")) != std::string::npos;) s.replace(p, 3, std::to_string(i));
  return s;
}

}  // namespace

bool has_hook_names(const std::string& model_type) { return find(model_type) != nullptr; }

SiteAliases hook_aliases(const ModelConfig& c) {
  const Table* t = find(c.model_type);
  if (!t) return {};
  SiteAliases out;
  auto add = [&](std::string alias, std::string site, Side side, std::string why) {
    out.push_back({std::move(alias), std::move(site), side, std::move(why)});
  };
  for (const Row& r : t->rows) {
    if (!std::strstr(r.alias, "{i}")) {
      add(r.alias, r.site, r.side, "");
      continue;
    }
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const bool absent = r.sequential_only ? c.use_parallel_residual : r.unavailable != nullptr;
      add(with_layer(r.alias, i), absent ? "" : with_layer(r.site, i), r.side, absent ? r.unavailable : "");
    }
  }
  for (int64_t i = 0; i < c.num_layers; ++i)
    for (const auto& a : kAttention) {
      const std::string alias = "blocks." + std::to_string(i) + ".attn." + a.alias;
      if (a.rotary && !t->rotary)
        add(alias, "", kOut,
            c.model_type +
                " has no rotary embedding (its positions are learned), so no q or k after rotary; "
                "use hook_q / hook_k");
      else add(alias, with_layer(t->attention, i) + "." + a.suffix, kOut, "");
    }
  add("unembed.hook_in", t->final_norm, kOut, "");
  add("unembed.hook_out", t->head, kOut, "");
  add("ln_final.hook_normalized", std::string(t->final_norm) + ".normalized", kOut, "");
  return out;
}

}  // namespace rig
