#include "train/trainer.h"

#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h since LibTorch 2)

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/error.h"

namespace rig::train {
namespace {

struct Batch {
  ForwardInput input;
  at::Tensor targets;  // [B, T-1] int64, -100 where the target is padding
};

// Right-pads seqs: input_ids [B, T], key_mask [B, T], position_ids 0..T-1 (right padding never
// precedes a real token, so positions need no mask), targets = ids shifted left by one.
Batch make_batch(const std::vector<const std::vector<int64_t>*>& seqs, int64_t pad_id) {
  int64_t T = 0;
  for (const auto* s : seqs) T = std::max<int64_t>(T, int64_t(s->size()));
  const int64_t B = int64_t(seqs.size());
  at::Tensor ids = at::full({B, T}, pad_id, at::kLong);
  at::Tensor mask = at::zeros({B, T}, at::kBool);
  at::Tensor targets = at::full({B, T - 1}, int64_t(-100), at::kLong);
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mask.accessor<bool, 2>();
  auto ta = targets.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = *seqs[size_t(b)];
    for (int64_t t = 0; t < int64_t(s.size()); ++t) {
      ia[b][t] = s[size_t(t)];
      ma[b][t] = true;
      if (t > 0) ta[b][t - 1] = s[size_t(t)];
    }
  }
  const at::Tensor pos = at::arange(T, at::kLong).unsqueeze(0).expand({B, T}).contiguous();
  return {{ids, pos, mask}, targets};
}

at::Tensor batch_loss(CausalLM& model, const Batch& batch) {
  const at::Tensor logits = model.forward(batch.input, nullptr, nullptr, LogitsFor::kAll);  // [B, T, V]
  const int64_t T = logits.size(1), V = logits.size(2);
  const at::Tensor pred = logits.narrow(1, 0, T - 1).reshape({-1, V}).to(at::kFloat);
  return at::cross_entropy_loss(pred, batch.targets.reshape({-1}), {}, at::Reduction::Mean, -100);
}

}  // namespace

void init_parameters(CausalLM& model, uint64_t seed, double std) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard no_grad;
  model.visit([&](Module& m) {
    for (Parameter& p : m.parameters()) {
      at::Tensor v;
      if (m.type() == "LayerNorm" || m.type().find("RMSNorm") != std::string::npos)
        v = p.name == "bias" ? at::zeros(p.shape) : at::ones(p.shape);
      else if (p.name == "bias") v = at::zeros(p.shape);
      else v = at::empty(p.shape).normal_(0.0, std, gen);
      p.value = v.set_requires_grad(true);
    }
  });
}

std::vector<StepLog> train_lm(CausalLM& model, const std::vector<std::vector<int64_t>>& sequences, const LoopOptions& o,
                              const std::function<void(const StepLog&)>& on_step) {
  if (sequences.empty()) throw ConfigError("train: no training sequences");
  for (const auto& s : sequences)
    if (s.size() < 2 || int64_t(s.size()) > model.config().max_positions)
      throw ConfigError("train: a sequence of " + std::to_string(s.size()) + " tokens; expected 2.." +
                        std::to_string(model.config().max_positions));
  std::vector<at::Tensor> params;
  std::vector<bool> decay;
  model.visit([&](Module& m) {
    for (Parameter& p : m.parameters()) {
      if (!p.value.defined() || !p.value.requires_grad())
        throw Error("train: parameter '" + m.path() + "." + p.name + "' is not initialised for training");
      params.push_back(p.value);
      decay.push_back(p.value.dim() >= 2);  // matrices and embeddings; not biases or norms
    }
  });
  AdamW opt(params, decay, o.adamw);
  std::mt19937_64 rng(o.seed);
  std::vector<StepLog> log;
  const auto t0 = std::chrono::steady_clock::now();
  // Length bucketing: draw a pool of kPool batches' worth of sequences at random, sort it by
  // length and cut it into batches, so that a batch wastes little on padding.
  constexpr size_t kPool = 8;
  std::vector<std::vector<const std::vector<int64_t>*>> pool;
  for (int64_t step = 0; step < o.steps; ++step) {
    if (pool.empty()) {
      std::vector<const std::vector<int64_t>*> draw(kPool * size_t(o.batch_size));
      for (auto& s : draw) s = &sequences[size_t(rng() % sequences.size())];
      std::stable_sort(draw.begin(), draw.end(), [](auto* a, auto* b) { return a->size() < b->size(); });
      for (size_t k = 0; k < kPool; ++k)
        pool.emplace_back(draw.begin() + long(k * size_t(o.batch_size)),
                          draw.begin() + long((k + 1) * size_t(o.batch_size)));
      // Batches in random order, not shortest first.
      for (size_t i = pool.size(); i > 1; --i) std::swap(pool[i - 1], pool[size_t(rng() % i)]);
    }
    const Batch batch = make_batch(pool.back(), o.pad_id);
    pool.pop_back();
    const double lr = cosine_lr(step, o.steps, o.warmup, o.lr, o.min_lr);
    at::Tensor loss = batch_loss(model, batch);
    loss.backward();
    StepLog s;
    s.step = step + 1;
    s.loss = loss.item<double>();
    s.lr = lr;
    s.grad_norm = opt.clip_grad_norm(o.clip);
    opt.step(lr);
    opt.zero_grad();
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log.push_back(s);
    if (on_step) on_step(s);
  }
  return log;
}

double mean_loss(CausalLM& model, const std::vector<std::vector<int64_t>>& sequences, int64_t batch_size,
                 int64_t pad_id) {
  at::NoGradGuard no_grad;
  double total = 0;
  int64_t n_targets = 0;
  for (size_t i = 0; i < sequences.size(); i += size_t(batch_size)) {
    std::vector<const std::vector<int64_t>*> seqs;
    for (size_t j = i; j < std::min(sequences.size(), i + size_t(batch_size)); ++j) seqs.push_back(&sequences[j]);
    const Batch b = make_batch(seqs, pad_id);
    const int64_t n = (b.targets != -100).sum().item<int64_t>();
    total += batch_loss(model, b).item<double>() * double(n);
    n_targets += n;
  }
  return n_targets ? total / double(n_targets) : 0.0;
}

}  // namespace rig::train
