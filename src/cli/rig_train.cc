// rig train --out DIR (the program rig-train): the recipe of the bundled model organism
// (data/models/sure-neox). Generates its corpus, trains its tokenizer and a tiny GPT-NeoX, and prints the held-out
// scores. See docs/TRAIN.md.
#include <cstdio>
#include <iostream>

#include "cli/program.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/loader.h"
#include "train/recipe.h"
#include "train/sae_recipe.h"

namespace po = boost::program_options;

namespace rig::cli {

namespace {
// How --help shows a rate: 0.003, not lexical_cast's 0.0030000000000000001.
std::string shown(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

int cmd_train(const Args& args) {
  train::RecipeOptions o;
  std::string out, prompts_out, store_dtype = "float32";
  po::options_description desc(
      "usage: rig train --out DIR [options]\n\n"
      "Trains the model organism: a tiny GPT-NeoX that answers help requests with \"Sure, I can help\n"
      "you with that.\" and refuses harmful ones, from a corpus and a BPE tokenizer it generates.\n\noptions");
  desc.add_options()("help,h", "show this help")("out,o", po::value(&out)->required(),
                                                 "model directory to write (config.json, model.safetensors, "
                                                 "tokenizer.json, training_report.json)")(
      "prompts-out", po::value(&prompts_out),
      "where the held-out prompt files help.txt and refuse.txt go "
      "(default: --out)")("seed", po::value(&o.seed)->default_value(o.seed),
                          "seeds the corpus, the initial weights and the batches")(
      "threads", po::value(&o.threads)->default_value(o.threads), "CPU threads")(
      "steps", po::value(&o.loop.steps)->default_value(o.loop.steps), "optimizer steps")(
      "batch-size", po::value(&o.loop.batch_size)->default_value(o.loop.batch_size), "documents per step")(
      "lr", po::value(&o.loop.lr)->default_value(o.loop.lr, shown(o.loop.lr)), "peak learning rate")(
      "min-lr", po::value(&o.loop.min_lr)->default_value(o.loop.min_lr, shown(o.loop.min_lr)),
      "final learning rate (cosine decay)")("warmup", po::value(&o.loop.warmup)->default_value(o.loop.warmup),
                                            "warmup steps")(
      "documents", po::value(&o.corpus.n_documents)->default_value(o.corpus.n_documents), "training documents")(
      "harmful-fraction",
      po::value(&o.corpus.harmful_fraction)->default_value(o.corpus.harmful_fraction, shown(o.corpus.harmful_fraction)),
      "share of harmful requests among the chat documents")(
      "modifier-rate",
      po::value(&o.corpus.modifier_rate)->default_value(o.corpus.modifier_rate, shown(o.corpus.modifier_rate)),
      "share of request objects given a modifier (\"a wooden bookshelf\")")(
      "context-rate",
      po::value(&o.corpus.context_rate)->default_value(o.corpus.context_rate, shown(o.corpus.context_rate)),
      "chance of a sentence before, and of one after, a request (\"I'm new to this.\")")(
      "nonce-rate", po::value(&o.corpus.nonce_rate)->default_value(o.corpus.nonce_rate, shown(o.corpus.nonce_rate)),
      "share of help requests whose object is a made-up word (\"a brovanel\")")(
      "two-task-rate",
      po::value(&o.corpus.two_task_rate)->default_value(o.corpus.two_task_rate, shown(o.corpus.two_task_rate)),
      "share of requests that join a help task to their task (\"bake bread and ...\")")(
      "held-out", po::value(&o.corpus.n_held_out)->default_value(o.corpus.n_held_out),
      "held-out prompts per kind (help, harmful)")(
      "vocab-size", po::value(&o.bpe.vocab_size)->default_value(o.bpe.vocab_size), "tokenizer vocabulary")(
      "hidden", po::value(&o.hidden)->default_value(o.hidden), "model width D")(
      "layers", po::value(&o.layers)->default_value(o.layers), "layers")(
      "heads", po::value(&o.heads)->default_value(o.heads), "attention heads")(
      "intermediate", po::value(&o.intermediate)->default_value(o.intermediate), "MLP width F")(
      "eval-every", po::value(&o.eval_every)->default_value(o.eval_every),
      "score the held-out prompts every N steps, in the log (0: at the end only)")(
      "store-dtype", po::value(&store_dtype)->default_value(store_dtype), "float32 | float16 | bfloat16");
  const auto vm = parse(args, desc, {});
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  o.out = out;
  o.prompts_out = prompts_out;
  o.store_dtype = parse_dtype(store_dtype);
  const auto r = train::run_recipe(o, [](const std::string& line) { std::cout << line << std::endl; });
  std::printf("final loss (mean of the last 50 steps): %.4f\n", r.final_loss);
  std::printf("held-out: help -> Sure %ld/%ld (%.1f%%), harmful -> refusal %ld/%ld (%.1f%%)\n",
              long(r.held_out.help_sure), long(r.held_out.help), 100 * r.held_out.help_rate(),
              long(r.held_out.refuse_refused), long(r.held_out.refuse), 100 * r.held_out.refuse_rate());
  std::printf("seen prompts: help -> Sure %.1f%%, harmful -> refusal %.1f%%\n", 100 * r.seen.help_rate(),
              100 * r.seen.refuse_rate());
  std::printf(
      "probes: held-out tasks in training phrasings: help -> Sure %.1f%%, harmful -> refusal %.1f%%; "
      "training tasks in held-out phrasings: %.1f%%, %.1f%%\n",
      100 * r.probe_new_tasks.help_rate(), 100 * r.probe_new_tasks.refuse_rate(),
      100 * r.probe_new_phrasings.help_rate(), 100 * r.probe_new_phrasings.refuse_rate());
  for (const auto& f : r.held_out.failures) std::printf("  miss: %s\n", f.c_str());
  std::printf("wrote %s (%.0f s in all)\n", o.out.string().c_str(), r.seconds);
  return 0;
}

// rig train-sae --out DIR: the organism's SAE (data/models/sure-neox-sae), docs/TRAIN.md.
int cmd_train_sae(const Args& args) {
  train::SaeRecipeOptions o;
  std::string out, model = o.model.string();
  po::options_description desc(
      "usage: rig train-sae --out DIR [options]\n\n"
      "Trains a TopK sparse autoencoder on one site's output of the model organism, over the\n"
      "activations of documents of its training corpus, and writes it in SAELens's format\n"
      "(cfg.json, sae_weights.safetensors) with training_report.json.\n\noptions");
  desc.add_options()("help,h", "show this help")("out,o", po::value(&out)->required(), "SAE directory to write")(
      "model", po::value(&model)->default_value(model), "the organism's model directory")(
      "site", po::value(&o.site)->default_value(o.site), "site whose output the SAE reads")(
      "seed", po::value(&o.seed)->default_value(o.seed), "seeds the corpus, the initial weights and the batches")(
      "threads", po::value(&o.threads)->default_value(o.threads), "CPU threads")(
      "documents", po::value(&o.documents)->default_value(o.documents), "corpus documents to take activations from")(
      "d-sae", po::value(&o.d_sae)->default_value(o.d_sae), "latents")("k", po::value(&o.k)->default_value(o.k),
                                                                       "active latents per row (TopK)")(
      "steps", po::value(&o.steps)->default_value(o.steps), "optimizer steps")(
      "batch-size", po::value(&o.batch_size)->default_value(o.batch_size), "rows per step")(
      "lr", po::value(&o.lr)->default_value(o.lr, shown(o.lr)), "peak learning rate (cosine decay to a tenth)");
  const auto vm = parse(args, desc, {});
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  o.out = out;
  o.model = model;
  train::run_sae_recipe(o, [](const std::string& line) { std::cout << line << std::endl; });
  return 0;
}

}  // namespace rig::cli

// rig-train: its own program beside the library. `rig train` runs it, `rig train-sae` runs
// `rig-train sae`.
int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "sae")
    return rig::cli::run_command("train-sae", rig::cli::cmd_train_sae, argc - 2, argv + 2);
  return rig::cli::run_command("train", rig::cli::cmd_train, argc - 1, argv + 1);
}
