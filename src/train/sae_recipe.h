#pragma once
// rig train-sae: the bundled organism's sparse autoencoder (data/models/sure-neox-sae), a TopK
// SAE on one site's output, trained on the organism's own activations over documents of its
// training corpus, and written in SAELens's format (cfg.json + sae_weights.safetensors), so
// that SAELens's SAE.load_from_disk reads it too. docs/TRAIN.md gives the recipe.
//
//   a = topk_k(relu((x - b_dec) @ W_enc + b_enc)),  x^ = a @ W_dec + b_dec
//   loss = mean over rows of |x - x^|^2;  W_dec's rows kept at unit norm after every step.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace rig::train {

struct SaeRecipeOptions {
  std::filesystem::path model = "data/models/sure-neox";  // the organism (rig train's output)
  std::string site = "gpt_neox.layers.2";                 // its output is the SAE's input
  std::filesystem::path out;                              // directory to write
  uint64_t seed = 1234;  // seeds the corpus (the organism's own), the initial weights and batches
  int threads = 1;
  int64_t documents = 3000;  // corpus documents whose every token's activations are the data
  int64_t d_sae = 256;
  int64_t k = 8;
  int64_t steps = 3000;
  int64_t batch_size = 256;  // rows per step
  double lr = 1e-3;          // Adam (no weight decay), cosine decay to lr / 10
};

// Returns the report (also written to out/training_report.json). log gets progress lines.
nlohmann::json run_sae_recipe(const SaeRecipeOptions& o, const std::function<void(const std::string&)>& log);

}  // namespace rig::train
