#pragma once
// Loads a causal LM offline: from a local HF-format directory (config.json, model.safetensors
// or sharded safetensors with model.safetensors.index.json, tokenizer.json), or from a hub id
// + revision resolved in a Hugging Face cache directory.
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/model_source.h"
#include "model/causal_lm.h"
#include "tokenizer/tokenizer.h"

namespace rig {

struct LoadedModel {
  std::shared_ptr<CausalLM> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::filesystem::path dir;  // the directory the files came from
  std::string name;           // hub id, or the directory's name
  std::string revision;       // revision (hub) or "" (local)
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

// Parses "float32" | "float16" | "bfloat16" (and torch's aliases); ConfigError otherwise.
at::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(at::ScalarType t);
// Parses "cpu" | "cuda" | "cuda:N"; ConfigError when CUDA is asked for but not available.
at::Device parse_device(const std::string& name);

// Whether this LibTorch has the float16 CPU kernels rig needs (1.13 lacks LayerNorm's).
bool cpu_supports_float16();

// Resolves the source to a directory (hub layout or local), without loading.
std::filesystem::path resolve_model_dir(const ModelSource& source);

// Loads weights (converted to the compute dtype), the tokenizer, and checks every tensor
// against the config. `download` is the caller's (runner.cc fetches before it loads). Throws ModelError naming the file
// and the tensor or key.
LoadedModel load_model(const ModelSource& source);

}  // namespace rig
