#pragma once
// HF's added vocabulary: tokens matched in the text before the model (leftmost-longest),
// `normalized: false` ones on the raw text, `normalized: true` ones on the normalized text.
// Internal to src/tokenizer.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_ctx.h"

namespace rig::tok {

struct AddedToken {
  int64_t id;
  std::string content;
  bool special, normalized, single_word, lstrip, rstrip;
};

// A span of text: either an added token (id >= 0) or text for the model (id == -1).
struct Segment {
  std::string text;
  int64_t id = -1;
  bool at_start = false;  // begins at offset 0 of the input
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(const Json& list, const JsonCtx& ctx);

  // Splits each text segment (id == -1) of `segs` on the tokens with `normalized` == the flag.
  void split(std::vector<Segment>& segs, bool normalized) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* by_id(int64_t id) const;
  const AddedToken* by_content(const std::string& content) const;

 private:
  struct Matcher {
    // candidates by first byte, longest first
    std::vector<std::vector<const AddedToken*>> by_first_byte = std::vector<std::vector<const AddedToken*>>(256);
    bool empty = true;
  };
  void split_one(const Segment& seg, const Matcher& m, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int64_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Matcher raw_, normalized_;
};

}  // namespace rig::tok
