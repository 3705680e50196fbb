#include "model/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "core/error.h"

namespace rig {

ForwardInput make_padded_batch(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id, at::Device device) {
  const int64_t B = int64_t(prompts.size());
  int64_t T = 0;
  for (const auto& p : prompts) {
    if (p.empty()) throw Error("a prompt encodes to no tokens");
    T = std::max<int64_t>(T, int64_t(p.size()));
  }
  at::Tensor ids = at::full({B, T}, pad_id, at::kLong);
  at::Tensor mask = at::zeros({B, T}, at::kBool);
  at::Tensor pos = at::zeros({B, T}, at::kLong);
  auto id_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<bool, 2>();
  auto pos_a = pos.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = int64_t(prompts[b].size()), off = T - n;
    for (int64_t t = 0; t < n; ++t) {
      id_a[b][off + t] = prompts[b][t];
      mask_a[b][off + t] = true;
      pos_a[b][off + t] = t;
    }
  }
  return ForwardInput{ids.to(device), pos.to(device), mask.to(device)};
}

at::Tensor forward_batch(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, const SiteHooks* hooks,
                         at::Device device) {
  at::InferenceMode guard;
  const ForwardInput in = make_padded_batch(prompts, 0, device);
  return model.forward(in, nullptr, hooks, LogitsFor::kAll);
}

int64_t sample_token(const at::Tensor& logits_in, const GenerateConfig& o, at::Generator* gen) {
  if (o.greedy || !gen) return logits_in.argmax().item<int64_t>();
  // HF's order of logits warpers: temperature, top-k, top-p.
  at::Tensor logits = logits_in.to(at::kCPU, at::kFloat) / o.temperature;
  const int64_t V = logits.size(0);
  if (o.top_k > 0 && o.top_k < V) {
    const at::Tensor kth = std::get<0>(logits.topk(o.top_k)).min();
    logits = logits.masked_fill(logits < kth, -INFINITY);
  }
  if (o.top_p < 1.0) {
    // Keep the smallest set of most likely tokens whose probability reaches top_p.
    auto [sorted, idx] = logits.sort(/*dim=*/0, /*descending=*/false);
    const at::Tensor cum = sorted.softmax(0).cumsum(0);
    at::Tensor remove = cum <= (1.0 - o.top_p);
    remove[V - 1] = false;  // always keep the most likely token
    logits = logits.scatter(0, idx, sorted.masked_fill(remove, -INFINITY));
  }
  const at::Tensor probs = logits.softmax(0);
  return at::multinomial(probs, 1, /*replacement=*/false, *gen).item<int64_t>();
}

std::vector<SequenceResult> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateOptions& o, const std::vector<uint64_t>& seeds,
                                     const SiteHooks* hooks, at::Device device,
                                     const std::function<void(const StepInfo&)>& on_step) {
  at::InferenceMode guard;
  const int64_t B = int64_t(prompts.size());
  if (int64_t(seeds.size()) != B) throw Error("generate: one seed per prompt is needed");
  // Checked here for every caller, before the KV cache is sized: an id past the embedding or
  // a position past the model's table ends in a LibTorch backtrace (or a 512 GB cache).
  const ModelConfig& mc = model.config();
  if (o.max_new_tokens < 0) throw ConfigError("max_new_tokens: expected >= 0, got " + std::to_string(o.max_new_tokens));
  for (size_t b = 0; b < prompts.size(); ++b) {
    const int64_t n = int64_t(prompts[b].size());
    if (n > mc.position_limit() || o.max_new_tokens > mc.position_limit() - n)
      throw ConfigError("prompt " + std::to_string(b) + ": " + std::to_string(n) + " tokens + max_new_tokens " +
                        std::to_string(o.max_new_tokens) + " exceed the model's " +
                        std::to_string(mc.position_limit()) + " positions (" + mc.position_limit_source() + ")");
    for (size_t i = 0; i < prompts[b].size(); ++i)
      if (prompts[b][i] < 0 || prompts[b][i] >= mc.vocab_size)
        throw ModelError("prompt " + std::to_string(b) + ", token " + std::to_string(i) + ": id " +
                         std::to_string(prompts[b][i]) + " is outside the model's vocabulary of " +
                         std::to_string(mc.vocab_size) +
                         " (config.json vocab_size): the tokenizer "
                         "(tokenizer.json) and the model do not belong together");
  }
  const int64_t pad = o.eos_id.value_or(o.pad_id);
  if (pad < 0 || pad >= mc.vocab_size)
    throw ModelError("the padding token id " + std::to_string(pad) +
                     " (the end-of-sequence id) is outside the "
                     "model's vocabulary of " +
                     std::to_string(mc.vocab_size) + " (config.json vocab_size)");
  ForwardInput in = make_padded_batch(prompts, pad, device);
  const int64_t T0 = in.input_ids.size(1);
  KVCache cache = model.make_cache(T0 + o.max_new_tokens + 1);
  std::vector<SequenceResult> results(static_cast<size_t>(B));
  for (auto& r : results) r.finish_reason = o.max_new_tokens > 0 ? "length" : "prompt_only";

  StepInfo info;
  info.step = 0;
  info.tokens = T0;
  info.has_row.assign(size_t(B), 1);
  for (int64_t b = 0; b < B; ++b) info.offset.push_back(T0 - int64_t(prompts[b].size()));
  at::Tensor logits = model.forward(in, &cache, hooks, LogitsFor::kLast);
  if (on_step) on_step(info);
  if (o.max_new_tokens == 0) return results;

  std::vector<at::Generator> gens;
  for (int64_t b = 0; b < B; ++b) gens.push_back(at::make_generator<at::CPUGeneratorImpl>(seeds[size_t(b)]));
  std::vector<uint8_t> active(size_t(B), 1);  // still generating
  std::vector<int64_t> next_pos(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b) next_pos[size_t(b)] = int64_t(prompts[b].size());
  at::Tensor key_mask = in.key_mask;

  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    const at::Tensor last = logits.select(1, logits.size(1) - 1).to(at::kCPU, at::kFloat);  // [B, V]
    std::vector<int64_t> next(size_t(B), pad);
    info.has_row.assign(size_t(B), 0);
    for (int64_t b = 0; b < B; ++b) {
      if (!active[size_t(b)]) continue;
      next[size_t(b)] = sample_token(last[b], o, o.greedy ? nullptr : &gens[size_t(b)]);
      results[size_t(b)].new_ids.push_back(next[size_t(b)]);
      info.has_row[size_t(b)] = 1;
      if (o.stop_at_eos && o.eos_id && next[size_t(b)] == *o.eos_id) {
        active[size_t(b)] = 0;
        results[size_t(b)].finish_reason = "eos";
      }
    }
    const bool more =
        i + 1 < o.max_new_tokens && std::any_of(active.begin(), active.end(), [](uint8_t a) { return a; });
    if (!more && !o.final_step) break;
    // Feed the new tokens back: one position per sequence.
    at::Tensor ids = at::from_blob(next.data(), {B, 1}, at::kLong).clone().to(device);
    at::Tensor pos = at::from_blob(next_pos.data(), {B, 1}, at::kLong).clone().to(device);
    for (auto& p : next_pos) ++p;
    key_mask = at::cat({key_mask, at::ones({B, 1}, key_mask.options())}, 1);
    logits = model.forward(ForwardInput{ids, pos, key_mask}, &cache, hooks, LogitsFor::kLast);
    info.step = int(i + 1);
    info.tokens = 1;
    info.offset.assign(size_t(B), 0);
    if (on_step) on_step(info);
    if (!more) break;
  }
  return results;
}

}  // namespace rig
