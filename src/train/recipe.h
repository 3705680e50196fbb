#pragma once
// The recipe of the bundled model organism (data/models/sure-neox): generate the corpus,
// train the BPE tokenizer on it, train a tiny GPT-NeoX from scratch, save it as an HF model
// directory, reload it with rig's loader and score its greedy replies to the held-out prompts.
// `rig train` is its command line.
#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "train/bpe_trainer.h"
#include "train/corpus.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace rig::train {

// The recipe's optimisation (docs/TRAIN.md): 1200 steps of 48 documents, warmup 100, cosine
// from 3e-3 to 1e-4.
inline LoopOptions recipe_loop() {
  LoopOptions l;
  l.steps = 1200;
  l.batch_size = 48;
  l.lr = 3e-3;
  l.min_lr = 1e-4;
  l.warmup = 100;
  return l;
}

struct RecipeOptions {
  std::filesystem::path out;          // the model directory to write
  std::filesystem::path prompts_out;  // where help.txt and refuse.txt go (empty: out)
  uint64_t seed = 1234;               // seeds corpus, initialisation and batch order
  int threads = 2;                    // at::set_num_threads
  CorpusOptions corpus;
  BpeOptions bpe{1536};  // enough merges that the harmful words are whole tokens or two
  LoopOptions loop = recipe_loop();
  int64_t hidden = 128, layers = 4, heads = 4, intermediate = 512, max_positions = 256;
  double rotary_pct = 0.25;
  at::ScalarType store_dtype = at::kFloat;
  int64_t eval_new_tokens = 12;  // greedy tokens per held-out reply
  int64_t log_every = 50;        // steps between progress lines
  int64_t eval_every = 0;        // steps between held-out scores in the log (0: at the end only)
};

struct RecipeResult {
  ReplyScore held_out;                              // on the held-out prompts
  ReplyScore seen;                                  // on training prompts (a sample), for comparison
  ReplyScore probe_new_tasks, probe_new_phrasings;  // Corpus's probes
  double final_loss = 0;                            // mean training loss of the last 50 steps
  double seconds = 0;                               // wall time of the whole recipe
  nlohmann::json report;                            // everything, as written to out/training_report.json
};

// log receives progress lines. Throws ConfigError for bad options, Error when writing fails.
RecipeResult run_recipe(const RecipeOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace rig::train
