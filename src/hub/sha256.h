#pragma once
// SHA-256 (FIPS 180-4), incremental: the hub names an LFS file's blob by the sha256 of its
// content, and rig checks every downloaded byte against it before the blob is used.
#include <cstddef>
#include <cstdint>
#include <string>

namespace rig::hub {

class Sha256 {
 public:
  Sha256() { reset(); }
  void reset();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; the object must be reset() before reuse

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);

}  // namespace rig::hub
