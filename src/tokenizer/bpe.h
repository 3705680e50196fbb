#pragma once
// HF's BPE model: merge ranks, byte_fallback, unk_token with fuse_unk, ignore_merges,
// continuing_subword_prefix / end_of_word_suffix. Internal to src/tokenizer.
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_ctx.h"

namespace rig::tok {

class Bpe {
 public:
  Bpe(const Json& model, const JsonCtx& ctx);

  // Appends the ids of one pre-token. Results are cached per pre-token (thread-safe).
  void tokenize(const std::string& word, std::vector<int64_t>& ids) const;

  std::optional<int64_t> token_to_id(const std::string& token) const;
  const std::string* id_to_token(int64_t id) const;  // nullptr when unknown
  int64_t max_id() const { return static_cast<int64_t>(id_to_token_.size()) - 1; }
  size_t cache_size() const;

 private:
  void merge_word(const std::string& word, std::vector<int32_t>& out) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;  // "" for ids the vocab does not use
  std::vector<bool> has_id_;
  struct MergeTarget {
    int32_t rank;
    int32_t new_id;
  };
  std::unordered_map<uint64_t, MergeTarget> merges_;  // (left id << 32 | right id)
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string prefix_, suffix_;    // continuing_subword_prefix, end_of_word_suffix
  std::vector<int32_t> byte_ids_;  // id of "<0xXX>" or -1, when byte_fallback

  // Per-pre-token cache (HF keeps one too); bounded, guarded for concurrent const use.
  // Long words (a whole line, for tokenizers without a pre-tokenizer) are not cached.
  static constexpr size_t kCacheCapacity = 200000;
  static constexpr size_t kCacheMaxWord = 256;  // bytes
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace rig::tok
