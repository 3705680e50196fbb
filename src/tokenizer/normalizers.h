#pragma once
// HF normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence.
// Internal to src/tokenizer.
#include <memory>
#include <string>

#include "tokenizer/json_ctx.h"

namespace rig::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& s) const = 0;  // s: valid UTF-8, in place
};

// Throws ModelError naming the key and the type when the component is unsupported.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonCtx& ctx);

}  // namespace rig::tok
