#include "model/loader.h"

#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h since LibTorch 2)

#include "core/error.h"
#include "model/weights.h"
#include "model/architectures/architectures.h"
#include "model/hub.h"

namespace rig {
namespace fs = std::filesystem;

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "float" || name == "fp32") return at::kFloat;
  if (name == "float16" || name == "half" || name == "fp16") return at::kHalf;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  throw ConfigError("dtype: expected float32, float16 or bfloat16, got '" + name + "'");
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default: return std::string(c10::toString(t));
  }
}

at::Device parse_device(const std::string& name) {
  if (name == "cpu") return at::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA())
      throw ConfigError("device '" + name +
                        "': this rig was built with a LibTorch without CUDA (or no GPU is visible)");
    try {
      return at::Device(name);
    } catch (const std::exception&) {
      throw ConfigError("device: expected cpu, cuda or cuda:N, got '" + name + "'");
    }
  }
  throw ConfigError("device: expected cpu, cuda or cuda:N, got '" + name + "'");
}

bool cpu_supports_float16() {
  try {
    at::NoGradGuard no_grad;
    const at::Tensor x = at::ones({2, 4}, at::kHalf);
    at::layer_norm(x, {4});
    at::matmul(x, x.t());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

namespace {

// Modules allocate their parameters before the weights are read: a config.json whose sizes
// are far larger than its checkpoint (num_hidden_layers: 1000000) would allocate gigabytes
// and then fail. A lower bound of the parameter count, V*D + L*2*D*F (embedding and the two
// MLP matrices of every layer; every architecture has at least these), at one byte each,
// must fit in the checkpoint's files.
void check_size_against_checkpoint(const ModelConfig& c, const fs::path& config_path, const fs::path& dir) {
  const double params = double(c.vocab_size) * double(c.hidden_size) +
                        double(c.num_layers) * 2.0 * double(c.hidden_size) * double(c.intermediate_size);
  double bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0 && e.is_regular_file(ec))
      bytes += double(e.file_size(ec));
  }
  if (bytes > 0 && params > bytes)
    throw ModelError(config_path.string() + ": describes a model of at least " + std::to_string(int64_t(params)) +
                     " parameters (vocab_size x hidden_size + num_hidden_layers x 2 x hidden_size x "
                     "intermediate_size), but the checkpoint's .safetensors files hold only " +
                     std::to_string(int64_t(bytes)) + " bytes: config.json does not belong to these weights");
}

}  // namespace

fs::path resolve_model_dir(const ModelSource& source) {
  if (!source.path.empty()) {
    if (!fs::is_directory(source.path)) throw ModelError(source.path + ": model directory not found");
    return source.path;
  }
  if (source.id.empty()) throw ConfigError("model: give either path or id");
  return resolve_hub_snapshot(source.id, source.revision, source.cache_dir);
}

LoadedModel load_model(const ModelSource& source) {
  LoadedModel lm;
  lm.dir = resolve_model_dir(source);
  lm.device = parse_device(source.device);
  lm.dtype = parse_dtype(source.dtype);
  if (lm.dtype == at::kHalf && lm.device.is_cpu() && !cpu_supports_float16())
    throw ConfigError(
        "model.dtype: float16 needs kernels this LibTorch lacks on the CPU; use bfloat16 (or float32) "
        "on the CPU, float16 on cuda");
  lm.name = source.id.empty() ? fs::absolute(source.path).lexically_normal().filename().string() : source.id;
  if (lm.name.empty()) lm.name = fs::absolute(source.path).parent_path().filename().string();
  lm.revision = source.id.empty() ? "" : source.revision;
  const fs::path config_path = lm.dir / "config.json";
  if (!fs::exists(config_path)) throw ModelError(config_path.string() + ": config.json not found");
  const ModelConfig config = ModelConfig::from_file(config_path);
  const fs::path tok = lm.dir / "tokenizer.json";
  if (!fs::exists(tok))
    throw ModelError(tok.string() +
                     ": tokenizer.json not found beside the weights (rig needs the model's own "
                     "HF tokenizer file)");
  check_size_against_checkpoint(config, config_path, lm.dir);
  lm.model = make_causal_lm(config, config_path.string());
  load_weights(*lm.model, lm.dir, lm.dtype, lm.device);
  lm.tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_file(tok));
  return lm;
}

}  // namespace rig
