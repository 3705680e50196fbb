#pragma once
// HF post-processors: ByteLevel (ids unchanged), TemplateProcessing (single-sequence
// template), RobertaProcessing, BertProcessing, Sequence. Internal to src/tokenizer.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_ctx.h"

namespace rig::tok {

// What add_special_tokens puts around one sequence.
struct SpecialAround {
  std::vector<int64_t> before_ids, after_ids;
  std::vector<std::string> before_tokens, after_tokens;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void add_special(std::vector<int64_t>& ids, std::vector<std::string>& tokens) const = 0;
  // Best-effort description of what add_special adds (for bos_id / eos_id).
  virtual void describe(SpecialAround& around) const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const JsonCtx& ctx);

}  // namespace rig::tok
