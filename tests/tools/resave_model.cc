// resave_model IN OUT: reads a model directory as rig does (config.json through its
// architecture's keys, then the weights) and writes it again with save_model_dir, in the dtype
// config.json's torch_dtype names (float32 where it names none). The oracle's
// test_save_config.py loads both directories with transformers and compares them.
#include <cstdio>
#include <exception>

#include "core/error.h"
#include "model/architectures/architectures.h"
#include "model/loader.h"
#include "model/save.h"
#include "model/weights.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: resave_model IN_DIR OUT_DIR\n");
    return 2;
  }
  try {
    const std::filesystem::path in = argv[1], out = argv[2];
    const rig::ModelConfig c = rig::ModelConfig::from_file(in / "config.json");
    auto model = rig::make_causal_lm(c, (in / "config.json").string());
    rig::load_weights(*model, in, at::kFloat, at::kCPU);
    rig::save_model_dir(*model, c, out, c.torch_dtype.empty() ? at::kFloat : rig::parse_dtype(c.torch_dtype));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resave_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
