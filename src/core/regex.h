#pragma once
// User- and file-supplied regexes (electrode sites, event token texts, tokenizer Split
// patterns) run through PCRE2 with explicit limits (core/limits.h), never std::regex:
// libstdc++'s matcher recurses per character and per group (a long subject or 30k nested
// groups overflow the stack) and has no step limit (/(.*)*(.*)*x/ runs for ever).
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rig {

class SafeRegex {
 public:
  SafeRegex() = default;
  // Compiles `pattern` (PCRE2 syntax, UTF-8). Throws std::invalid_argument with
  // "at offset N: <PCRE2's message>" when it does not compile or exceeds the pattern limit.
  // limit_exit_code: the exit code of the error a match over the limits throws (the
  // pattern's source: kExitConfig for a config, kExitModel for a tokenizer.json).
  explicit SafeRegex(const std::string& pattern, bool utf = true, int limit_exit_code = 2);

  // Whether the whole of `s` matches. Throws rig::Error("regex /P/: ... (rig's limit of N
  // steps)") when PCRE2 gives up (match or memory limit): the pattern backtracks too much.
  bool full_match(std::string_view s) const;
  // Whether some part of `s` matches (same limits).
  bool search(std::string_view s) const;
  // Every non-overlapping match [begin, end) from left to right; an empty match advances by
  // one UTF-8 character (same limits).
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;

  bool valid() const { return bool(code_); }
  const std::string& pattern() const { return pattern_; }

 private:
  int match(std::string_view s, size_t start, uint32_t options, void* match_data) const;
  std::string pattern_;
  bool utf_ = true;
  int limit_exit_code_ = 2;
  std::shared_ptr<void> code_;  // pcre2_code
};

}  // namespace rig
