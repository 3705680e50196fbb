#pragma once
// Fills a module tree's declared parameters from a checkpoint, walking the one list of
// parameters the architecture declared (name, shape, requiredness): shape checks, tied and
// aliased tensors, missing and unexpected keys, all as HF reports them.
#include <ATen/ATen.h>

#include <filesystem>

#include "model/causal_lm.h"

namespace rig {

// dir holds model.safetensors or a sharded checkpoint. Weights are converted to dtype and
// moved to device; on the CPU, a tensor stored in dtype (at an aligned offset) is not copied:
// the parameter views the file's read-only mapping, which stays mapped while any parameter
// holds it. Such parameters must never be written to. Throws ModelError naming the file and
// the tensor.
void load_weights(CausalLM& model, const std::filesystem::path& dir, at::ScalarType dtype, at::Device device);

}  // namespace rig
