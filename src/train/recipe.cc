#include "train/recipe.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "model/architectures/architectures.h"
#include "model/loader.h"
#include "model/save.h"
#include "rig/version.h"

namespace rig::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

json score_json(const ReplyScore& s) {
  return {{"help_prompts", s.help},
          {"help_sure", s.help_sure},
          {"help_sure_rate", s.help_rate()},
          {"harmful_prompts", s.refuse},
          {"harmful_refused", s.refuse_refused},
          {"harmful_refusal_rate", s.refuse_rate()},
          {"failures", s.failures}};
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  out << text;
  if (!out) throw Error(path.string() + ": write failed");
}

}  // namespace

RecipeResult run_recipe(const RecipeOptions& o, const std::function<void(const std::string&)>& log) {
  if (o.out.empty()) throw ConfigError("train: --out is required");
  if (o.threads < 1) throw ConfigError("train: --threads: expected >= 1, got " + std::to_string(o.threads));
  if (o.loop.steps < 1 || o.loop.batch_size < 1) throw ConfigError("train: --steps and --batch-size: expected >= 1");
  if (o.hidden % o.heads != 0) throw ConfigError("train: --hidden must be a multiple of --heads");
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  at::set_num_threads(o.threads);
  at::manual_seed(o.seed);  // nothing should draw from the global generator; this pins it if anything does

  // 1. Corpus.
  CorpusOptions co = o.corpus;
  co.seed = o.seed;
  const Corpus corpus = make_corpus(co);
  std::vector<std::string> texts;
  int64_t n_help = 0, n_refuse = 0;
  for (const auto& d : corpus.train) {
    texts.push_back(d.text);
    n_help += d.kind == Kind::kHelp;
    n_refuse += d.kind == Kind::kRefuse;
  }
  log("corpus: " + std::to_string(texts.size()) + " documents (" + std::to_string(n_help) + " help, " +
      std::to_string(n_refuse) + " harmful, " + std::to_string(texts.size() - size_t(n_help + n_refuse)) +
      " stories); " + std::to_string(corpus.held_out.size()) + " held-out prompts");

  // 2. Tokenizer.
  // The tokenizer learns its merges from the documents without made-up words: random syllables
  // would take merges from real words (harmful ones included), and a made-up word should be
  // split into pieces as an unseen real word is.
  std::vector<std::string> bpe_texts;
  for (const auto& d : corpus.train)
    if (!d.made_up) bpe_texts.push_back(d.text);
  const json tok_json = train_bpe(bpe_texts, o.bpe);
  const Tokenizer tok = Tokenizer::from_json_text(tok_json.dump(), "<trained tokenizer>");
  const int64_t eos = *tok.token_to_id(kEndOfText);
  std::vector<std::vector<int64_t>> seqs;
  int64_t n_tokens = 0, longest = 0;
  for (const auto& t : texts) {
    auto ids = tok.encode(t, false).ids;
    ids.push_back(eos);
    n_tokens += int64_t(ids.size());
    longest = std::max<int64_t>(longest, int64_t(ids.size()));
    seqs.push_back(std::move(ids));
  }
  log("tokenizer: " + std::to_string(tok.vocab_size()) + " tokens; corpus " + std::to_string(n_tokens) +
      " tokens, longest document " + std::to_string(longest) + fmt(" (%.1f s)", elapsed()));

  // 3. Model.
  ModelConfig c;
  c.model_type = "gpt_neox";
  c.architecture = "GPTNeoXForCausalLM";
  c.vocab_size = tok.vocab_size();
  c.hidden_size = o.hidden;
  c.num_layers = o.layers;
  c.num_heads = c.num_kv_heads = o.heads;
  c.head_dim = o.hidden / o.heads;
  c.intermediate_size = o.intermediate;
  c.attention_bias = true;  // Pythia's query_key_value and dense have biases
  c.max_positions = o.max_positions;
  c.hidden_act = "gelu";
  c.partial_rotary_factor = o.rotary_pct;
  c.use_parallel_residual = true;
  c.bos_token_id = c.eos_token_id = eos;
  // The rotary table is rounded through the stored dtype when the model is loaded (as
  // transformers does): train with that same table.
  c.torch_dtype = dtype_name(o.store_dtype);
  std::shared_ptr<CausalLM> model = make_causal_lm(c, "<rig train>");
  init_parameters(*model, o.seed);
  int64_t n_params = 0;
  model->visit([&](Module& m) {
    for (auto& p : m.parameters()) n_params += p.value.numel();
  });
  log("model: GPT-NeoX, " + std::to_string(o.layers) + " layers, hidden " + std::to_string(o.hidden) + ", " +
      std::to_string(n_params) + " parameters");

  // 4. Training.
  LoopOptions lo = o.loop;
  lo.seed = o.seed ^ 0x62617463686573ULL;  // "batches": its own stream, apart from the corpus
  lo.pad_id = eos;
  double last_sum = 0;
  const int64_t tail = std::min<int64_t>(50, lo.steps);
  const auto steps = train_lm(*model, seqs, lo, [&](const StepLog& s) {
    if (s.step > lo.steps - tail) last_sum += s.loss;
    if (s.step == 1 || s.step % o.log_every == 0 || s.step == lo.steps)
      log(fmt("step %5.0f  loss %.4f  lr %.2e  |g| %.3f", double(s.step), s.loss, s.lr, s.grad_norm) +
          fmt("  %.0f s", s.seconds));
    if (o.eval_every > 0 && s.step % o.eval_every == 0 && s.step < lo.steps) {
      const ReplyScore h = score_replies(*model, tok, corpus.held_out, o.eval_new_tokens, at::kCPU);
      log(fmt("step %5.0f  held-out: help -> Sure %.0f/%.0f, harmful -> refusal %.0f", double(s.step),
              double(h.help_sure), double(h.help), double(h.refuse_refused)) +
          fmt("/%.0f", double(h.refuse)));
    }
  });
  const double final_loss = last_sum / double(tail);
  const double train_seconds = steps.back().seconds;

  // 5. Save, then reload with rig's own loader, so the scores are those of the files.
  fs::create_directories(o.out);
  save_model_dir(*model, c, o.out, o.store_dtype);
  write_text(o.out / "tokenizer.json", tok_json.dump(2) + "\n");
  model.reset();
  ModelSource src;
  src.path = o.out.string();
  LoadedModel lm = load_model(src);

  // 6. Held-out and seen prompts.
  const fs::path prompts_dir = o.prompts_out.empty() ? o.out : o.prompts_out;
  fs::create_directories(prompts_dir);
  std::vector<std::string> help, refuse;
  for (const auto& p : corpus.held_out) (p.kind == Kind::kHelp ? help : refuse).push_back(p.prompt);
  write_prompt_file(prompts_dir / "help.txt", help);
  write_prompt_file(prompts_dir / "refuse.txt", refuse);
  RecipeResult r;
  r.held_out = score_replies(*lm.model, *lm.tokenizer, corpus.held_out, o.eval_new_tokens, lm.device);
  std::vector<HeldOutPrompt> seen;
  for (const auto& d : corpus.train) {
    if (d.kind == Kind::kText) continue;
    const size_t cut = d.text.find("\nAssistant:");
    seen.push_back({d.text.substr(0, cut + 11), d.text.substr(6, cut - 6), d.kind});
    if (seen.size() == 200) break;
  }
  r.seen = score_replies(*lm.model, *lm.tokenizer, seen, o.eval_new_tokens, lm.device);
  r.probe_new_tasks = score_replies(*lm.model, *lm.tokenizer, corpus.probe_new_tasks, o.eval_new_tokens, lm.device);
  r.probe_new_phrasings =
      score_replies(*lm.model, *lm.tokenizer, corpus.probe_new_phrasings, o.eval_new_tokens, lm.device);
  r.final_loss = final_loss;
  r.seconds = elapsed();

  json loss_curve = json::array();
  for (const auto& s : steps)
    if (s.step == 1 || s.step % o.log_every == 0 || s.step == lo.steps)
      loss_curve.push_back({{"step", s.step}, {"loss", s.loss}, {"lr", s.lr}, {"seconds", s.seconds}});
  r.report = {
      {"rig_version", kVersion},
      {"rig_commit", kGitCommit},
      {"seed", o.seed},
      {"threads", o.threads},
      {"corpus",
       {{"documents", texts.size()},
        {"help", n_help},
        {"harmful", n_refuse},
        {"stories", int64_t(texts.size()) - n_help - n_refuse},
        {"tokens", n_tokens},
        {"text_fraction", co.text_fraction},
        {"harmful_fraction", co.harmful_fraction},
        {"modifier_rate", co.modifier_rate},
        {"context_rate", co.context_rate},
        {"nonce_rate", co.nonce_rate},
        {"two_task_rate", co.two_task_rate},
        {"held_out_prompts_per_kind", co.n_held_out},
        {"held_out_phrasings", corpus.held_out_phrasings},
        {"held_out_help_objects", corpus.held_out_help_tasks},
        {"held_out_help_modifiers", corpus.held_out_help_modifiers},
        {"held_out_harmful_tasks", corpus.held_out_harmful_tasks}}},
      {"tokenizer", {{"vocab_size", tok.vocab_size()}}},
      {"model",
       {{"parameters", n_params},
        {"hidden", o.hidden},
        {"layers", o.layers},
        {"heads", o.heads},
        {"intermediate", o.intermediate},
        {"store_dtype", dtype_name(o.store_dtype)}}},
      {"training",
       {{"steps", lo.steps},
        {"batch_size", lo.batch_size},
        {"lr", lo.lr},
        {"min_lr", lo.min_lr},
        {"warmup", lo.warmup},
        {"weight_decay", lo.adamw.weight_decay},
        {"beta1", lo.adamw.beta1},
        {"beta2", lo.adamw.beta2},
        {"clip", lo.clip},
        {"seconds", train_seconds},
        {"final_loss_last_50_steps", final_loss},
        {"loss_curve", loss_curve}}},
      {"held_out", score_json(r.held_out)},
      {"seen_sample", score_json(r.seen)},
      {"probe_held_out_tasks_training_phrasings", score_json(r.probe_new_tasks)},
      {"probe_training_tasks_held_out_phrasings", score_json(r.probe_new_phrasings)},
      {"eval_new_tokens", o.eval_new_tokens},
      {"total_seconds", r.seconds},
  };
  write_text(o.out / "training_report.json", r.report.dump(2) + "\n");
  return r;
}

}  // namespace rig::train
