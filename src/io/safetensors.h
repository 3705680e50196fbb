#pragma once
// Reads .safetensors files through mmap (header: 8-byte little-endian length, then JSON
// {name: {dtype, shape, data_offsets}}, then raw bytes). Every header entry is validated
// before use: offsets inside the file, no overlaps, byte length == numel * dtype size.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rig {

enum class StDtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapping; valid while the file lives
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps the file and validates its header. Throws rig::ModelError naming the file (and
  // the tensor, where one is at fault).
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  // The same validation of bytes in memory (the fuzzing harness's entry): the tensors point
  // into `data`, which must outlive the result; `path` only names it in messages.
  static std::shared_ptr<SafetensorsFile> parse(const uint8_t* data, size_t size, const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Whether the tensors point into rig's own read-only mapping of the file (open()), which
  // lives as long as this object: a tensor may view it instead of copying (PROT_READ: a
  // write into such a view is a segfault, so only read-only weights may).
  bool mapped() const { return map_ != nullptr; }
  // Drops the mapped pages that lie wholly inside t's bytes from this process's memory once
  // t has been copied out (they are read back from the file if touched again), so that a
  // converting load does not hold the file and its copy at once. Nothing for parse()'s bytes.
  void release(const StTensor& t) const;

 private:
  SafetensorsFile() = default;
  void index(const uint8_t* base);  // validates the header at base[0, size_) into tensors_
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, StTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The tensors of a checkpoint: one model.safetensors, or the shards that
// model.safetensors.index.json lists. Lookup by checkpoint key.
class Checkpoint {
 public:
  // dir holds model.safetensors or model.safetensors.index.json (+ shards).
  static Checkpoint open_dir(const std::filesystem::path& dir);
  const StTensor* find(const std::string& key) const;
  // The file a key lives in, for a tensor that views its mapping and keeps it alive.
  std::shared_ptr<const SafetensorsFile> file_ptr(const std::string& key) const;
  std::vector<std::string> keys() const;
  // The file a key lives in (for error messages).
  std::filesystem::path file_of(const std::string& key) const;
  std::filesystem::path description() const { return description_; }

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> key_to_file_;
  std::filesystem::path description_;
};

}  // namespace rig
