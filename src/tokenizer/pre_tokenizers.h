#pragma once
// HF pre-tokenizers: ByteLevel (GPT-2 regex), Metaspace, Split, Sequence. Internal.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_ctx.h"

namespace rig::tok {

// A piece of normalized text; `at_start` is true only for the piece that begins at offset 0
// of the input (Metaspace's prepend_scheme "first" prepends only there).
struct Piece {
  std::string text;
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their finer split; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonCtx& ctx);

}  // namespace rig::tok
