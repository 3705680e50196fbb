#include "model/weights.h"

#include <map>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"

namespace rig {
namespace fs = std::filesystem;

namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

at::ScalarType stored_type(const StTensor& t, const fs::path& file) {
  switch (t.dtype) {
    case StDtype::F32: return at::kFloat;
    case StDtype::F16: return at::kHalf;
    case StDtype::BF16: return at::kBFloat16;
    case StDtype::F64: return at::kDouble;
    default:
      throw ModelError(file.string() + ": tensor '" + t.name + "' has dtype " + st_dtype_name(t.dtype) +
                       "; a weight must be F32, F16, BF16 or F64");
  }
}

}  // namespace

void load_weights(CausalLM& model, const fs::path& dir, at::ScalarType dtype, at::Device device) {
  const Checkpoint ckpt = Checkpoint::open_dir(dir);
  std::set<std::string> used;
  std::vector<std::string> missing;
  std::vector<std::pair<Parameter*, std::string>> tied;  // parameter, source key
  std::map<std::string, Parameter*> by_key;
  model.visit([&](Module& m) {
    for (Parameter& p : m.parameters()) {
      const std::string key = m.path().empty() ? p.name : m.path() + "." + p.name;
      by_key[key] = &p;
      std::vector<std::string> names{key};
      for (auto& a : model.key_aliases(key)) names.push_back(a);
      const StTensor* t = nullptr;
      std::string found;
      for (const auto& n : names)
        if ((t = ckpt.find(n))) {
          found = n;
          break;
        }
      if (!t) {
        if (auto src = model.tied_to(key)) tied.emplace_back(&p, *src);
        else if (p.required) missing.push_back(key);
        continue;
      }
      used.insert(found);
      const fs::path file = ckpt.file_of(found);
      const at::ScalarType st = stored_type(*t, file);
      if (t->shape != p.shape)
        throw ModelError(file.string() + ": tensor '" + found + "' has shape " + shape_str(t->shape) +
                         ", expected " + shape_str(p.shape) + " from config.json");
      // from_blob views the mapping; .to() copies into memory rig owns, in the compute dtype.
      const at::Tensor view = at::from_blob(const_cast<uint8_t*>(t->data), t->shape, at::TensorOptions().dtype(st));
      p.value = view.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
    }
  });
  for (auto& [p, src] : tied) {
    auto it = by_key.find(src);
    if (it == by_key.end() || !it->second->value.defined())
      missing.push_back(src);
    else
      p->value = it->second->value;  // shared storage, as HF ties them
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 5) list += ", ... (" + std::to_string(missing.size()) + " in all)";
    throw ModelError(ckpt.description().string() + ": missing tensor(s) " + list);
  }
  std::vector<std::string> unexpected;
  for (const auto& k : ckpt.keys())
    if (!used.count(k) && !model.ignorable_key(k)) unexpected.push_back(k);
  if (!unexpected.empty()) {
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 5; ++i) list += (i ? ", " : "") + unexpected[i];
    throw ModelError(ckpt.file_of(unexpected[0]).string() + ": unexpected tensor(s) " + list +
                     " that " + model.type() + " with this config.json does not have (config and weights disagree?)");
  }
}

}  // namespace rig
