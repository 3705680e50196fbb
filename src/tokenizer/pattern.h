#pragma once
// The `pattern` of HF's Replace and Split components: {"String": "..."} (a literal) or
// {"Regex": "..."} (compiled with PCRE2 in UTF + UCP mode, JIT when available). Internal.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/regex.h"
#include "tokenizer/json_ctx.h"

namespace rig::tok {

// A compiled PCRE2 pattern, shareable between threads (each match uses its own match data).
class Regex {
 public:
  Regex(const std::string& pattern, const JsonCtx& ctx);
  // Non-overlapping, non-empty matches [begin, end) in `s` (valid UTF-8), left to right.
  // A pattern that backtracks past rig's limits (core/limits.h) throws a ModelError.
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  SafeRegex re_;
};

struct Match {
  size_t begin, end;
  bool is_match;
};

class Pattern {
 public:
  static Pattern from_json(const Json& j, const JsonCtx& ctx);
  // `s` cut into consecutive pieces covering it, each flagged as a match or not (as HF's
  // Pattern::find_matches); empty `s` gives no pieces.
  std::vector<Match> find_matches(std::string_view s) const;
  std::string replace_all(std::string_view s, const std::string& content) const;

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

}  // namespace rig::tok
