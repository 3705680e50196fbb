#pragma once
// Writes checkpoints in Hugging Face's format: .safetensors files (the layout io/safetensors.h
// reads) and a model directory (model.safetensors + a transformers 4.x style config.json)
// that load_model() and transformers' from_pretrained() both open.
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/causal_lm.h"
#include "model/config.h"

namespace rig {

// Writes tensors (float32, float16 or bfloat16, on any device) with a header of
// {name: {dtype F32|F16|BF16, shape, data_offsets}} and "__metadata__" (omitted when empty).
// The header is padded with spaces to a multiple of 8 bytes, so the data starts 8-byte
// aligned; tensors are laid out by decreasing element size (stable, otherwise in the given
// order) so that each starts aligned to its element size, with no gaps (as the format wants).
// Throws Error naming the file (cannot write) or the tensor (not a float type, duplicate name).
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata);

// config.json for c (ModelConfig::to_json: its architecture's keys, in the transformers 4.x
// spelling), with torch_dtype = store_dtype's name. Throws ModelError for an unknown model_type.
nlohmann::json config_json(const ModelConfig& c, at::ScalarType store_dtype);

// Writes dir/model.safetensors (every parameter of model under its checkpoint key, converted
// to store_dtype; parameters tied to another one are skipped, as HF saves them) and
// dir/config.json (config_json(config, store_dtype)). Creates dir.
void save_model_dir(const CausalLM& model, const ModelConfig& config, const std::filesystem::path& dir,
                    at::ScalarType store_dtype);

}  // namespace rig
