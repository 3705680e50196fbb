#pragma once
// Sparse autoencoders in SAELens's on-disk format: a directory with cfg.json and
// sae_weights.safetensors (SAE.save_model / SAE.load_from_disk). An SAE turns a site's
// activations into latents, as spike sorting turns an electrode's signal into units:
// electrodes with `sae:` record them (docs/FORMAT.md), and stimulation sets or scales them
// (docs/STIMULATION.md).
//
// Shapes: x [..., D] (D = d_in, the site's width), a [..., S] (S = d_sae).
//   in(x)     = norm_in(x) - b_dec * apply_b_dec_to_input
//   pre       = in(x) @ W_enc + b_enc                       W_enc [D, S], b_enc [S]
//   standard  a = relu(pre)
//   jumprelu  a = relu(pre) * (pre > threshold)             threshold [S] (Gemma Scope)
//   topk      a = relu of the k largest of pre (scaled by |W_dec[s]| first when
//               rescale_acts_by_decoder_norm), 0 elsewhere
//   decode(a) = norm_out(a @ W_dec + b_dec)                 W_dec [S, D], b_dec [D]
//               (topk with rescale_acts_by_decoder_norm: a / |W_dec[s]| first)
// norm_in/out are SAELens's run-time normalisations: none (and expected_average_only_in,
// which SAELens's encode does not apply either), layer_norm, constant_norm_rescale.
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>

namespace rig {

enum class SaeArch { kStandard, kJumpReLU, kTopK };
const char* sae_arch_name(SaeArch a);  // SAELens's `architecture`: standard | jumprelu | topk

enum class SaeNorm { kNone, kLayerNorm, kConstantNormRescale };

struct SaeConfig {
  SaeArch arch = SaeArch::kStandard;
  int64_t d_in = 0;
  int64_t d_sae = 0;
  int64_t k = 0;  // topk only
  bool apply_b_dec_to_input = true;
  bool rescale_acts_by_decoder_norm = false;  // topk only
  SaeNorm norm = SaeNorm::kNone;
  std::string normalize_activations = "none";  // as written
  std::string hook_name;                       // metadata.hook_name, for messages ("" = none)
};

class Sae {
 public:
  // Reads dir/cfg.json and dir/sae_weights.safetensors; weights become float32 on the CPU.
  // Throws ModelError naming cfg.json and the key, or the safetensors file and the tensor.
  static std::shared_ptr<const Sae> load(const std::filesystem::path& dir);
  // The same SAE with its weights on device (float32).
  std::shared_ptr<const Sae> to(at::Device device) const;

  const SaeConfig& config() const { return cfg_; }
  const std::filesystem::path& dir() const { return dir_; }
  // The sha256 of sae_weights.safetensors (hex), for the recording's attributes.
  const std::string& weights_sha256() const { return sha256_; }

  // What the normalisation took from x, for decode (per row; undefined when not needed).
  struct Norm {
    at::Tensor shift, scale;  // x_norm = (x - shift) / scale
  };
  // x: [..., D] any float dtype -> a: [..., S] float32.
  at::Tensor encode(const at::Tensor& x, Norm* norm = nullptr) const;
  // a: [..., S] float32 -> [..., D] float32 (norm from encode of the same rows).
  at::Tensor decode(const at::Tensor& a, const Norm& norm) const;
  // The change of decode() when a changes by da (b_dec cancels): [..., S] -> [..., D].
  at::Tensor decode_delta(const at::Tensor& da, const Norm& norm) const;

  const at::Tensor& W_dec() const { return W_dec_; }

 private:
  SaeConfig cfg_;
  std::filesystem::path dir_;
  std::string sha256_;
  at::Tensor W_enc_, b_enc_, W_dec_, b_dec_, threshold_;  // float32
  at::Tensor dec_norm_;                                   // |W_dec[s]| [S] (topk with rescale_acts_by_decoder_norm)
};

}  // namespace rig
