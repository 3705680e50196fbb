#include "model/weights.h"

#include <cstring>
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

// The parameter for stored tensor t. Where it is already what rig computes with (cpu, the
// compute dtype), the tensor is the file's mapping itself, no copy: the deleter holds the
// file, so the mapping lives as long as any weight views it. The mapping is read-only
// (PROT_READ), so rig must never write into a weight: the forward passes, tied weights
// (shared, not copied) and stimulation (out of place, on activations) only read them, and
// rig train builds fresh parameters instead of loading. Anything else is a copy.
at::Tensor weight_tensor(const Checkpoint& ckpt, const std::string& key, const StTensor& t, at::ScalarType st,
                         at::ScalarType dtype, at::Device device) {
  void* data = const_cast<uint8_t*>(t.data);
  const auto opts = at::TensorOptions().dtype(st);
  // The format does not align data: a header of odd length puts every tensor at an odd
  // address. ATen's kernels expect elements at multiples of their size, so such a tensor is
  // copied into aligned memory first (one memcpy), then converted as any other.
  const bool aligned = reinterpret_cast<uintptr_t>(t.data) % st_dtype_size(t.dtype) == 0;
  const auto file = ckpt.file_ptr(key);
  if (device.is_cpu() && st == dtype && aligned && file && file->mapped() && t.nbytes > 0)
    return at::from_blob(
        data, t.shape, [file](void*) {}, opts);
  at::Tensor src;
  if (aligned) {
    src = at::from_blob(data, t.shape, opts);  // a view, for .to() to read from
  } else {
    src = at::empty(t.shape, opts);
    std::memcpy(src.data_ptr(), data, t.nbytes);
    if (device.is_cpu() && st == dtype) {
      if (file) file->release(t);
      return src;
    }
  }
  at::Tensor out = src.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  // The copy is all rig keeps: the file's pages go, so that the file and the converted model
  // are not both in memory at the end of a load (2 + 1 times the checkpoint's bytes for a
  // bfloat16 checkpoint computed in float32, without this).
  if (file) file->release(t);
  return out;
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
        throw ModelError(file.string() + ": tensor '" + found + "' has shape " + shape_str(t->shape) + ", expected " +
                         shape_str(p.shape) + " from config.json");
      p.value = weight_tensor(ckpt, found, *t, st, dtype, device);
    }
  });
  for (auto& [p, src] : tied) {
    auto it = by_key.find(src);
    if (it == by_key.end() || !it->second->value.defined()) missing.push_back(src);
    else p->value = it->second->value;  // shared storage, as HF ties them
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
    throw ModelError(ckpt.file_of(unexpected[0]).string() + ": unexpected tensor(s) " + list + " that " + model.type() +
                     " with this config.json does not have (config and weights disagree?)");
  }
}

}  // namespace rig
