#include "train/sae_recipe.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h since LibTorch 2)

#include <chrono>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "model/loader.h"
#include "model/save.h"
#include "train/adamw.h"
#include "train/corpus.h"

namespace rig::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Every token's activation at site's output over the documents: [N, D] float32.
at::Tensor collect(LoadedModel& lm, const std::string& site, const std::vector<Document>& docs) {
  const auto id = lm.model->find_site(site);
  if (!id) throw ConfigError("train-sae: --site: '" + site + "' is not a site of " + lm.model->type());
  std::vector<at::Tensor> rows;
  SiteHooks hooks(lm.model->n_sites());
  hooks.add(*id, Side::kOutput, [&](const at::Tensor& x) {
    rows.push_back(x.reshape({-1, x.size(-1)}).to(at::kFloat).clone());
    return x;
  });
  at::NoGradGuard no_grad;
  for (const auto& d : docs) {
    const auto ids = lm.tokenizer->encode(d.text + kEndOfText, true).ids;
    const int64_t T = int64_t(ids.size());
    ForwardInput in;
    in.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
    in.position_ids = at::arange(T, at::kLong).unsqueeze(0);
    in.key_mask = at::ones({1, T}, at::kBool);
    lm.model->forward(in, nullptr, &hooks, LogitsFor::kLast);
  }
  if (rows.empty()) throw ConfigError("train-sae: --documents: no activations (0 documents?)");
  return at::cat(rows, 0);
}

}  // namespace

json run_sae_recipe(const SaeRecipeOptions& o, const std::function<void(const std::string&)>& log) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out.empty()) throw ConfigError("train-sae: --out: required");
  if (o.d_sae < 1 || o.k < 1 || o.k > o.d_sae)
    throw ConfigError("train-sae: --k: expected 1..d_sae (" + std::to_string(o.d_sae) + "), got " +
                      std::to_string(o.k));
  if (o.steps < 1 || o.batch_size < 1 || o.documents < 1 || o.threads < 1)
    throw ConfigError("train-sae: --steps, --batch-size, --documents and --threads must be >= 1");
  at::set_num_threads(o.threads);
  at::manual_seed(o.seed);

  ModelSource src;
  src.path = o.model.string();
  LoadedModel lm = load_model(src);
  CorpusOptions co;
  co.seed = o.seed;
  co.n_documents = o.documents;
  const Corpus corpus = make_corpus(co);
  const at::Tensor X = collect(lm, o.site, corpus.train);  // [N, D]
  const int64_t N = X.size(0), D = X.size(1), S = o.d_sae;
  log("train-sae: " + std::to_string(N) + " rows of " + o.site + " (" + std::to_string(D) + " wide) from " +
      std::to_string(corpus.train.size()) + " documents");

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  at::Tensor W_dec = at::randn({S, D}, gen, at::kFloat);
  W_dec = W_dec / W_dec.norm(2, {1}, true);
  at::Tensor W_enc = W_dec.t().clone();
  at::Tensor b_enc = at::zeros({S});
  at::Tensor b_dec = X.mean({0});  // the data's mean: the latents then explain its variation
  for (at::Tensor* p : {&W_enc, &b_enc, &W_dec, &b_dec}) p->set_requires_grad(true);
  AdamWOptions ao;
  ao.beta2 = 0.999;
  ao.weight_decay = 0;
  AdamW opt({W_enc, b_enc, W_dec, b_dec}, {false, false, false, false}, ao);

  auto encode = [&](const at::Tensor& x) {
    const at::Tensor pre = at::matmul(x - b_dec, W_enc) + b_enc;
    auto [v, i] = at::topk(pre, o.k, -1);
    return at::zeros_like(pre).scatter(-1, i, at::relu(v));
  };
  const double var = (X - X.mean({0})).pow(2).sum(-1).mean().item<double>();
  double loss_avg = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    const at::Tensor idx = at::randint(N, {o.batch_size}, gen, at::kLong);
    const at::Tensor x = X.index_select(0, idx);
    const at::Tensor xh = at::matmul(encode(x), W_dec) + b_dec;
    const at::Tensor loss = (xh - x).pow(2).sum(-1).mean();
    opt.zero_grad();
    loss.backward();
    opt.step(cosine_lr(step, o.steps, 0, o.lr, o.lr / 10));
    {
      at::NoGradGuard ng;
      W_dec.div_(W_dec.norm(2, {1}, true));
    }
    loss_avg = step ? 0.98 * loss_avg + 0.02 * loss.item<double>() : loss.item<double>();
    if ((step + 1) % 500 == 0 || step + 1 == o.steps)
      log("train-sae: step " + std::to_string(step + 1) + "/" + std::to_string(o.steps) + ": loss " +
          std::to_string(loss_avg) + " (fraction of variance unexplained " + std::to_string(loss_avg / var) + ")");
  }

  // Over all rows: fraction of variance unexplained, and latents never active (dead).
  at::NoGradGuard ng;
  at::Tensor sq = at::zeros({}), fired = at::zeros({S});
  for (int64_t r = 0; r < N; r += 4096) {
    const at::Tensor x = X.narrow(0, r, std::min<int64_t>(4096, N - r));
    const at::Tensor a = encode(x);
    sq += (at::matmul(a, W_dec) + b_dec - x).pow(2).sum();
    fired += (a > 0).sum(0).to(at::kFloat);
  }
  const double fvu = sq.item<double>() / double(N) / var;
  const int64_t dead = (fired == 0).sum().item<int64_t>();

  fs::create_directories(o.out);
  save_safetensors(
      o.out / "sae_weights.safetensors",
      {{"W_dec", W_dec.detach()}, {"W_enc", W_enc.detach()}, {"b_dec", b_dec.detach()}, {"b_enc", b_enc.detach()}}, {});
  // The keys of SAELens's TopKSAEConfig.to_dict() (SAE.save_model), so load_from_disk reads it.
  const json cfg = {{"architecture", "topk"},
                    {"d_in", D},
                    {"d_sae", S},
                    {"k", o.k},
                    {"rescale_acts_by_decoder_norm", false},
                    {"dtype", "float32"},
                    {"device", "cpu"},
                    {"apply_b_dec_to_input", true},
                    {"normalize_activations", "none"},
                    {"reshape_activations", "none"},
                    {"metadata", {{"hook_name", o.site}, {"model_name", o.model.filename().string()}}}};
  std::ofstream(o.out / "cfg.json") << cfg.dump(1) << "\n";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const json report = {{"model", o.model.string()},
                       {"site", o.site},
                       {"seed", o.seed},
                       {"documents", o.documents},
                       {"rows", N},
                       {"d_sae", S},
                       {"k", o.k},
                       {"steps", o.steps},
                       {"batch_size", o.batch_size},
                       {"lr", o.lr},
                       {"threads", o.threads},
                       {"fraction_of_variance_unexplained", fvu},
                       {"dead_latents", dead},
                       {"seconds", seconds}};
  std::ofstream(o.out / "training_report.json") << report.dump(1) << "\n";
  log("train-sae: fraction of variance unexplained " + std::to_string(fvu) + ", " + std::to_string(dead) +
      " dead latents of " + std::to_string(S) + "; " + std::to_string(seconds) + " s; wrote " + o.out.string());
  return report;
}

}  // namespace rig::train
