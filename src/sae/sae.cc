#include "sae/sae.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/sha256.h"
#include "io/safetensors.h"

namespace rig {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* sae_arch_name(SaeArch a) {
  switch (a) {
    case SaeArch::kStandard: return "standard";
    case SaeArch::kJumpReLU: return "jumprelu";
    case SaeArch::kTopK: return "topk";
  }
  return "?";
}

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// cfg.json, decoded with messages that name the file and the key.
SaeConfig read_config(const fs::path& file) {
  std::ifstream in(file);
  if (!in)
    throw ModelError(file.string() +
                     ": cannot read the SAE's config (an SAE directory holds cfg.json and "
                     "sae_weights.safetensors, as SAELens's save_model writes them)");
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {
    throw ModelError(file.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw ModelError(file.string() + ": expected a JSON object");
  auto bad = [&](const std::string& key, const std::string& what) {
    return ModelError(file.string() + ": " + key + ": " + what);
  };
  auto integer = [&](const char* key, bool required, int64_t def) -> int64_t {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) throw bad(key, "missing required key");
      return def;
    }
    const json& v = j[key];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0) throw bad(key, "expected a positive integer, got " + v.dump());
    return v.get<int64_t>();
  };
  auto boolean = [&](const char* key, bool def) -> bool {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) throw bad(key, "expected true or false, got " + j[key].dump());
    return j[key].get<bool>();
  };
  auto text = [&](const char* key, const std::string& def) -> std::string {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_string()) throw bad(key, "expected a string, got " + j[key].dump());
    return j[key].get<std::string>();
  };

  SaeConfig c;
  // SAELens before 6.0 wrote no architecture: its loader takes standard (a ReLU SAE).
  const std::string arch = text("architecture", "standard");
  if (arch == "standard") c.arch = SaeArch::kStandard;
  else if (arch == "jumprelu") c.arch = SaeArch::kJumpReLU;
  else if (arch == "topk") c.arch = SaeArch::kTopK;
  else throw bad("architecture", "expected standard | jumprelu | topk, got '" + arch + "'");
  // Pre-6.0 files chose the activation by name; only ReLU is a standard SAE.
  const std::string act = text("activation_fn", text("activation_fn_str", "relu"));
  if (c.arch == SaeArch::kStandard && act != "relu")
    throw bad(j.contains("activation_fn") ? "activation_fn" : "activation_fn_str",
              "expected relu for a standard SAE, got '" + act + "'");
  c.d_in = integer("d_in", true, 0);
  c.d_sae = integer("d_sae", true, 0);
  if (c.arch == SaeArch::kTopK) {
    c.k = integer("k", false, 100);  // TopKSAEConfig's default
    if (c.k > c.d_sae)
      throw bad("k", "expected at most d_sae = " + std::to_string(c.d_sae) + ", got " + std::to_string(c.k));
    c.rescale_acts_by_decoder_norm = boolean("rescale_acts_by_decoder_norm", false);
  }
  c.apply_b_dec_to_input = boolean("apply_b_dec_to_input", true);
  c.normalize_activations = text("normalize_activations", "none");
  if (c.normalize_activations == "none" || c.normalize_activations == "expected_average_only_in")
    c.norm = SaeNorm::kNone;  // SAELens's encode applies no run-time normalisation for either
  else if (c.normalize_activations == "layer_norm") c.norm = SaeNorm::kLayerNorm;
  else if (c.normalize_activations == "constant_norm_rescale") c.norm = SaeNorm::kConstantNormRescale;
  else
    throw bad("normalize_activations",
              "expected none | expected_average_only_in | layer_norm | "
              "constant_norm_rescale, got '" +
                  c.normalize_activations + "'");
  if (const std::string r = text("reshape_activations", "none"); r != "none")
    throw bad("reshape_activations", "expected none (rig's sites are [B, T, D]), got '" + r + "'");
  if (j.contains("metadata") && j["metadata"].is_object() && j["metadata"].contains("hook_name") &&
      j["metadata"]["hook_name"].is_string())
    c.hook_name = j["metadata"]["hook_name"].get<std::string>();
  return c;
}

at::Tensor to_float(const StTensor& t, const fs::path& file) {
  at::ScalarType st;
  switch (t.dtype) {
    case StDtype::F32: st = at::kFloat; break;
    case StDtype::F16: st = at::kHalf; break;
    case StDtype::BF16: st = at::kBFloat16; break;
    case StDtype::F64: st = at::kDouble; break;
    default:
      throw ModelError(file.string() + ": tensor '" + t.name + "' has dtype " + st_dtype_name(t.dtype) +
                       "; an SAE weight must be F32, F16, BF16 or F64");
  }
  at::Tensor x = at::empty(t.shape, at::TensorOptions().dtype(st));
  if (t.nbytes) std::memcpy(x.data_ptr(), t.data, t.nbytes);  // unaligned in the file: copy
  return x.to(at::kFloat);
}

}  // namespace

std::shared_ptr<const Sae> Sae::load(const fs::path& dir) {
  auto s = std::make_shared<Sae>();
  s->dir_ = dir;
  s->cfg_ = read_config(dir / "cfg.json");
  const SaeConfig& c = s->cfg_;
  const fs::path wf = dir / "sae_weights.safetensors";
  if (!fs::exists(wf))
    throw ModelError(wf.string() + ": missing (the SAE's weights, beside " + (dir / "cfg.json").string() + ")");
  auto file = SafetensorsFile::open(wf);

  struct Want {
    const char* name;
    std::vector<int64_t> shape;
    bool required;
  };
  const int64_t D = c.d_in, S = c.d_sae;
  const bool jump = c.arch == SaeArch::kJumpReLU;
  const std::vector<Want> want = {{"W_enc", {D, S}, true}, {"b_enc", {S}, true},      {"W_dec", {S, D}, true},
                                  {"b_dec", {D}, true},    {"threshold", {S}, false}, {"log_threshold", {S}, false}};
  std::map<std::string, at::Tensor> got;
  for (const auto& w : want) {
    const StTensor* t = file->find(w.name);
    const bool thr = std::string(w.name).find("threshold") != std::string::npos;
    if (!t) {
      if (w.required)
        throw ModelError(wf.string() + ": tensor '" + w.name + "' is missing (expected shape " + shape_str(w.shape) +
                         ")");
      continue;
    }
    if (thr && !jump)
      throw ModelError(wf.string() + ": tensor '" + w.name + "' is unexpected: cfg.json's architecture is " +
                       sae_arch_name(c.arch) + ", which has no threshold");
    if (t->shape != w.shape)
      throw ModelError(wf.string() + ": tensor '" + w.name + "' has shape " + shape_str(t->shape) + "; expected " +
                       shape_str(w.shape) + " (d_in " + std::to_string(D) + ", d_sae " + std::to_string(S) +
                       " in cfg.json)");
    got[w.name] = to_float(*t, wf);
  }
  for (const auto& [name, t] : file->tensors()) {
    bool known = false;
    for (const auto& w : want) known |= name == w.name;
    if (!known)
      throw ModelError(wf.string() + ": tensor '" + name +
                       "' is unexpected (an SAE of SAELens's format has "
                       "W_enc, b_enc, W_dec, b_dec and, for jumprelu, threshold)");
  }
  s->W_enc_ = got["W_enc"];
  s->b_enc_ = got["b_enc"];
  s->W_dec_ = got["W_dec"];
  s->b_dec_ = got["b_dec"];
  if (jump) {
    if (got.count("threshold")) s->threshold_ = got["threshold"];
    else if (got.count("log_threshold")) s->threshold_ = got["log_threshold"].exp();  // older SAELens files
    else
      throw ModelError(wf.string() + ": tensor 'threshold' is missing (expected shape " + shape_str({S}) +
                       "; a jumprelu SAE needs it)");
  }
  if (c.arch == SaeArch::kTopK && c.rescale_acts_by_decoder_norm) s->dec_norm_ = s->W_dec_.norm(2, {1});

  std::ifstream in(wf, std::ios::binary);
  hub::Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0) h.update(buf.data(), size_t(in.gcount()));
  }
  s->sha256_ = h.hex();
  return s;
}

std::shared_ptr<const Sae> Sae::to(at::Device device) const {
  auto s = std::make_shared<Sae>(*this);
  for (at::Tensor* t : {&s->W_enc_, &s->b_enc_, &s->W_dec_, &s->b_dec_, &s->threshold_, &s->dec_norm_})
    if (t->defined()) *t = t->to(device);
  return s;
}

at::Tensor Sae::encode(const at::Tensor& x_in, Norm* norm) const {
  at::Tensor x = x_in.to(at::kFloat);
  Norm nm;
  if (cfg_.norm == SaeNorm::kLayerNorm) {
    // SAELens: (x - mean) / (std + 1e-5), std with Bessel's correction; out: y * std + mean.
    nm.shift = x.mean({-1}, true);
    x = x - nm.shift;
    nm.scale = x.std({-1}, /*unbiased=*/true, true);
    x = x / (nm.scale + 1e-5);
  } else if (cfg_.norm == SaeNorm::kConstantNormRescale) {
    // SAELens: x * sqrt(d_in) / |x|; out: y / that.
    const at::Tensor coeff = std::sqrt(double(cfg_.d_in)) / x.norm(2, {-1}, true);
    nm.scale = 1.0 / coeff;
    x = x * coeff;
  }
  if (norm) *norm = nm;
  if (cfg_.apply_b_dec_to_input) x = x - b_dec_;
  at::Tensor pre = at::matmul(x, W_enc_) + b_enc_;  // [..., S]
  switch (cfg_.arch) {
    case SaeArch::kStandard: return at::relu(pre);
    case SaeArch::kJumpReLU: return at::relu(pre) * (pre > threshold_).to(at::kFloat);
    case SaeArch::kTopK: {
      if (dec_norm_.defined()) pre = pre * dec_norm_;
      auto [v, i] = at::topk(pre, cfg_.k, -1, /*largest=*/true, /*sorted=*/false);
      return at::zeros_like(pre).scatter(-1, i, at::relu(v));
    }
  }
  return pre;
}

at::Tensor Sae::decode_delta(const at::Tensor& da, const Norm& norm) const {
  at::Tensor y = at::matmul(dec_norm_.defined() ? da / dec_norm_ : da, W_dec_);
  if (norm.scale.defined()) y = y * norm.scale;
  return y;
}

at::Tensor Sae::decode(const at::Tensor& a, const Norm& norm) const {
  at::Tensor y = at::matmul(dec_norm_.defined() ? a / dec_norm_ : a, W_dec_) + b_dec_;
  if (norm.scale.defined()) y = y * norm.scale;
  if (norm.shift.defined()) y = y + norm.shift;
  return y;
}

}  // namespace rig
