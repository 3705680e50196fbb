#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_guard.h"
#include "core/limits.h"

namespace rig {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::filesystem::path& p, const std::string& what) {
  throw ModelError(p.string() + ": " + what);
}

bool parse_dtype(const std::string& s, StDtype* d) {
  static const std::map<std::string, StDtype> table = {
      {"F64", StDtype::F64}, {"F32", StDtype::F32},  {"F16", StDtype::F16}, {"BF16", StDtype::BF16},
      {"I64", StDtype::I64}, {"I32", StDtype::I32},  {"I16", StDtype::I16}, {"I8", StDtype::I8},
      {"U8", StDtype::U8},   {"BOOL", StDtype::BOOL}};
  auto it = table.find(s);
  if (it == table.end()) return false;
  *d = it->second;
  return true;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::F64: return "F64";
    case StDtype::F32: return "F32";
    case StDtype::F16: return "F16";
    case StDtype::BF16: return "BF16";
    case StDtype::I64: return "I64";
    case StDtype::I32: return "I32";
    case StDtype::I16: return "I16";
    case StDtype::I8: return "I8";
    case StDtype::U8: return "U8";
    case StDtype::BOOL: return "BOOL";
  }
  return "?";
}

size_t st_dtype_size(StDtype d) {
  switch (d) {
    case StDtype::F64:
    case StDtype::I64: return 8;
    case StDtype::F32:
    case StDtype::I32: return 4;
    case StDtype::F16:
    case StDtype::BF16:
    case StDtype::I16: return 2;
    case StDtype::I8:
    case StDtype::U8:
    case StDtype::BOOL: return 1;
  }
  return 0;
}

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path, "cannot stat");
  }
  f->size_ = size_t(st.st_size);
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, S_ISDIR(st.st_mode) ? "expected a safetensors file, got a directory" : "expected a regular file");
  }
  if (f->size_ < 8) {
    ::close(fd);
    fail(path,
         "truncated safetensors file: " + std::to_string(f->size_) + " bytes, shorter than the 8-byte header length");
  }
  f->map_ = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (f->map_ == MAP_FAILED) {
    f->map_ = nullptr;
    fail(path, "mmap failed");
  }
  f->index(static_cast<const uint8_t*>(f->map_));
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::parse(const uint8_t* data, size_t size,
                                                        const std::filesystem::path& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->size_ = size;
  if (size < 8)
    fail(path, "truncated safetensors file: " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  f->index(data);  // map_ stays null: the caller owns the bytes
  return f;
}

void SafetensorsFile::index(const uint8_t* base) {
  SafetensorsFile* f = this;
  const std::filesystem::path& path = path_;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > f->size_ - 8)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(f->size_) + " bytes): truncated or not a safetensors file");
  if (auto deep =
          json_depth_error(std::string_view(reinterpret_cast<const char*>(base + 8), header_len), limits::kJsonDepth))
    fail(path, "header: " + *deep);
  json header;
  try {
    header = json::parse(base + 8, base + 8 + header_len);
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");
  const size_t data_begin = 8 + header_len;
  const size_t data_size = f->size_ - data_begin;
  std::vector<std::pair<size_t, size_t>> ranges;  // for the overlap check
  std::vector<std::string> range_names;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (it->is_object())
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) f->metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    const json& e = it.value();
    auto bad = [&](const std::string& what) { fail(path, "tensor '" + name + "': " + what); };
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad("header entry needs dtype, shape and data_offsets");
    StTensor t;
    t.name = name;
    if (!e["dtype"].is_string() || !parse_dtype(e["dtype"].get<std::string>(), &t.dtype))
      bad("unsupported dtype " + e["dtype"].dump());
    if (!e["shape"].is_array()) bad("shape is not a list");
    uint64_t numel = 1;
    for (const auto& s : e["shape"]) {
      if (!s.is_number_integer() || s.get<int64_t>() < 0) bad("shape " + e["shape"].dump() + " is not a list of sizes");
      t.shape.push_back(s.get<int64_t>());
      // The product is checked, not trusted: [2^40, 2^40] must not wrap around to a small size.
      if (__builtin_mul_overflow(numel, uint64_t(t.shape.back()), &numel) || numel > uint64_t(INT64_MAX) / 8)
        bad("shape " + e["shape"].dump() + " has more elements than any file can hold");
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("data_offsets must be [begin, end]");
    const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    if (b > en || en > data_size)
      bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] outside the data section (" +
          std::to_string(data_size) + " bytes): truncated file?");
    t.nbytes = en - b;
    const uint64_t expect = numel * st_dtype_size(t.dtype);
    if (t.nbytes != expect)
      bad("holds " + std::to_string(t.nbytes) + " bytes but dtype " + st_dtype_name(t.dtype) + " shape " +
          shape_str(t.shape) + " needs " + std::to_string(expect));
    t.data = base + data_begin + b;
    if (t.nbytes) {
      ranges.emplace_back(b, en);
      range_names.push_back(name);
    }
    f->tensors_.emplace(name, std::move(t));
  }
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  for (size_t i = 1; i < order.size(); ++i)
    if (ranges[order[i]].first < ranges[order[i - 1]].second)
      fail(path, "tensors '" + range_names[order[i - 1]] + "' and '" + range_names[order[i]] +
                     "' have overlapping data_offsets");
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

void SafetensorsFile::release(const StTensor& t) const {
  if (!map_ || t.nbytes == 0) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(t.data) + page - 1) / page * page;  // whole pages only:
  const uintptr_t end = (uintptr_t(t.data) + t.nbytes) / page * page;    // neighbours may be in use
  // MAP_PRIVATE and never written: the pages are the file's, so dropping them loses nothing.
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Checkpoint Checkpoint::open_dir(const std::filesystem::path& dir) {
  Checkpoint c;
  const auto single = dir / "model.safetensors";
  const auto index = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(index)) {
    c.description_ = index;
    json j;
    const std::string text = read_text_file(index.string(), "a safetensors index", kExitModel);
    if (auto deep = json_depth_error(text, limits::kJsonDepth)) throw ModelError(index.string() + ": " + *deep);
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      throw ModelError(index.string() + ": not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw ModelError(index.string() + ": missing key 'weight_map'");
    std::map<std::string, size_t> shard_ids;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it->is_string()) throw ModelError(index.string() + ": weight_map['" + it.key() + "'] is not a file name");
      const std::string shard = it->get<std::string>();
      auto s = shard_ids.find(shard);
      if (s == shard_ids.end()) {
        c.files_.push_back(SafetensorsFile::open(dir / shard));
        s = shard_ids.emplace(shard, c.files_.size() - 1).first;
      }
      if (!c.files_[s->second]->find(it.key()))
        throw ModelError((dir / shard).string() + ": tensor '" + it.key() +
                         "' listed in model.safetensors.index.json is not in this shard");
      c.key_to_file_[it.key()] = s->second;
    }
  } else if (std::filesystem::exists(single)) {
    c.description_ = single;
    c.files_.push_back(SafetensorsFile::open(single));
    for (const auto& [k, t] : c.files_[0]->tensors()) c.key_to_file_[k] = 0;
  } else {
    throw ModelError(dir.string() +
                     ": no model.safetensors or model.safetensors.index.json "
                     "(rig reads safetensors checkpoints; convert .bin files with HF's "
                     "save_pretrained(safe_serialization=True))");
  }
  return c;
}

const StTensor* Checkpoint::find(const std::string& key) const {
  auto it = key_to_file_.find(key);
  return it == key_to_file_.end() ? nullptr : files_[it->second]->find(key);
}

std::shared_ptr<const SafetensorsFile> Checkpoint::file_ptr(const std::string& key) const {
  auto it = key_to_file_.find(key);
  return it == key_to_file_.end() ? nullptr : files_[it->second];
}

std::vector<std::string> Checkpoint::keys() const {
  std::vector<std::string> k;
  for (const auto& [name, i] : key_to_file_) k.push_back(name);
  return k;
}

std::filesystem::path Checkpoint::file_of(const std::string& key) const {
  auto it = key_to_file_.find(key);
  return it == key_to_file_.end() ? description_ : files_[it->second]->path();
}

}  // namespace rig
