#pragma once
// A Hugging Face tokenizer.json, in C++: normalizer -> added tokens -> pre-tokenizer -> BPE
// -> post-processor, and back through the decoder. Output is identical to HF tokenizers for
// the components listed in docs/TOKENIZER.md; any other component is a ModelError naming it.
//
// Tokenizer is a cheap handle (shared immutable state); all const methods may be called from
// many threads at once (the per-pre-token BPE cache is guarded).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rig {

struct Encoding {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;  // vocab strings (byte-level ones as "Ġthe")
};

class Tokenizer {
 public:
  // Throws ModelError naming the file and the JSON key when the file is missing, not JSON,
  // or uses a component rig does not implement.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  // The same from JSON text; `origin` names it in errors.
  static Tokenizer from_json_text(std::string_view json, const std::string& origin);

  // Throws DataError when `text` is not valid UTF-8.
  Encoding encode(std::string_view text, bool add_special_tokens) const;
  // Throws DataError for an id outside the vocabulary. Invalid UTF-8 that the tokens spell
  // (a cut byte sequence) becomes U+FFFD, as in HF.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const;

  std::string id_to_token(int64_t id) const;  // raw vocab string; DataError if unknown
  std::optional<int64_t> token_to_id(const std::string& token) const;
  int64_t vocab_size() const;  // largest id + 1, added tokens included
  bool is_special(int64_t id) const;
  std::optional<int64_t> bos_id() const;
  std::optional<int64_t> eos_id() const;

  // Number of pre-tokens in the BPE cache (for tests and diagnostics).
  size_t cache_size() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Decodes ids one at a time during generation and returns only complete UTF-8 text, with the
// same spacing as decode() of all ids at once.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int64_t id);  // newly completed text (may be empty)
  std::string flush();           // whatever is left (incomplete bytes as U+FFFD)

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  std::vector<int64_t> ids_;
  size_t prefix_offset_ = 0;  // ids_[prefix_offset_, read_offset_) were emitted already and
  size_t read_offset_ = 0;    // give the context (e.g. a leading space) for what follows
};

}  // namespace rig
