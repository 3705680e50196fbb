#pragma once
// HF decoders: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence.
// Internal to src/tokenizer.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_ctx.h"

namespace rig::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // As HF's decode_chain: token strings in, strings out (joined with "" by the caller).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const Json& j, const JsonCtx& ctx);

}  // namespace rig::tok
