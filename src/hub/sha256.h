#pragma once
// SHA-256, incremental: the hub names an LFS file's blob by the sha256 of its content, and rig
// checks every downloaded byte against it before the blob is used. OpenSSL's libcrypto does the
// hashing (the SHA extensions where the CPU has them: multi-GB checkpoints hash at disk speed).
#include <cstddef>
#include <memory>
#include <string>

namespace rig::hub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void reset();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; the object must be reset() before reuse

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string sha256_hex(const std::string& data);

}  // namespace rig::hub
