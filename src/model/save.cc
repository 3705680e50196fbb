#include "model/save.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "core/error.h"
#include "model/loader.h"

namespace rig {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* st_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    default: return nullptr;
  }
}

}  // namespace

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].second.element_size() > tensors[b].second.element_size();
  });
  json header = json::object();
  std::set<std::string> seen;
  std::vector<at::Tensor> data;  // contiguous CPU copies, in file order
  size_t offset = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    if (!t.defined()) throw Error(path.string() + ": tensor '" + name + "' is undefined");
    const char* dt = st_name(t.scalar_type());
    if (!dt)
      throw Error(path.string() + ": tensor '" + name + "' has dtype " + std::string(c10::toString(t.scalar_type())) +
                  "; expected float32, float16 or bfloat16");
    if (name == "__metadata__" || !seen.insert(name).second)
      throw Error(path.string() + ": tensor name '" + name + "' is reserved or given twice");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const size_t n = size_t(c.numel()) * c.element_size();
    header[name] = {{"dtype", dt}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(std::move(c));
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  uint8_t len[8];
  for (int b = 0; b < 8; ++b) len[b] = uint8_t(uint64_t(h.size()) >> (8 * b));  // little-endian u64
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(h.data(), std::streamsize(h.size()));
  for (const auto& c : data)
    out.write(static_cast<const char*>(c.data_ptr()), std::streamsize(size_t(c.numel()) * c.element_size()));
  out.close();
  if (!out) throw Error(path.string() + ": write failed");
}

json config_json(const ModelConfig& c, at::ScalarType store_dtype) {
  json j = c.to_json();
  j["torch_dtype"] = dtype_name(store_dtype);
  return j;
}

void save_model_dir(const CausalLM& model, const ModelConfig& config, const fs::path& dir, at::ScalarType store_dtype) {
  const json cfg = config_json(config, store_dtype);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  // visit() is not const only because it hands out mutable modules; nothing is changed here.
  const_cast<CausalLM&>(model).visit([&](Module& m) {
    for (const Parameter& p : m.parameters()) {
      const std::string key = m.path().empty() ? p.name : m.path() + "." + p.name;
      if (model.tied_to(key)) continue;  // HF leaves tied weights out of the checkpoint
      if (!p.value.defined()) throw ModelError("save_model_dir: parameter '" + key + "' has no value");
      tensors.emplace_back(key, p.value.detach().to(store_dtype));
    }
  });
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create directory: " + ec.message());
  save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  std::ofstream out(dir / "config.json", std::ios::trunc);
  if (!out) throw Error((dir / "config.json").string() + ": cannot open for writing");
  out << cfg.dump(2) << "\n";
  if (!out) throw Error((dir / "config.json").string() + ": write failed");
}

}  // namespace rig
