#include "core/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

#include "core/error.h"
#include "core/limits.h"

namespace rig {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

pcre2_match_context* limited_context() {
  // One context for every match: the limits are the same everywhere and it is read-only.
  static pcre2_match_context* ctx = [] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(c, limits::kRegexMatchLimit);
    pcre2_set_heap_limit(c, limits::kRegexHeapLimitKiB);
    return c;
  }();
  return ctx;
}

using MatchData = std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)>;

size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

}  // namespace

SafeRegex::SafeRegex(const std::string& pattern, bool utf, int limit_exit_code)
    : pattern_(pattern), utf_(utf), limit_exit_code_(limit_exit_code) {
  if (pattern.size() > limits::kRegexPatternBytes)
    throw std::invalid_argument("a pattern of " + std::to_string(pattern.size()) + " bytes exceeds rig's limit of " +
                                std::to_string(limits::kRegexPatternBytes));
  int err = 0;
  PCRE2_SIZE off = 0;
  // PCRE2_MATCH_INVALID_UTF: subjects that are not valid UTF-8 simply do not match there.
  const uint32_t opts = utf ? PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF : 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err, &off, nullptr);
  if (!code) throw std::invalid_argument("at offset " + std::to_string(off) + ": " + pcre2_message(err));
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // the interpreter runs where JIT is unavailable
  code_.reset(code, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); });
}

int SafeRegex::match(std::string_view s, size_t start, uint32_t options, void* md) const {
  auto* code = static_cast<pcre2_code*>(code_.get());
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start, options,
                             static_cast<pcre2_match_data*>(md), limited_context());
  if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) return rc;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
      rc == PCRE2_ERROR_JIT_STACKLIMIT)
    throw Error("regex /" + pattern_ + "/: " + pcre2_message(rc) + " on a subject of " + std::to_string(s.size()) +
                    " bytes (rig's limits: " + std::to_string(limits::kRegexMatchLimit) + " steps, " +
                    std::to_string(limits::kRegexHeapLimitKiB) +
                    " KiB); the pattern backtracks too much, "
                    "simplify it (e.g. no nested quantifiers such as (.*)*)",
                limit_exit_code_);
  throw Error("regex /" + pattern_ + "/: match failed: " + pcre2_message(rc));
}

bool SafeRegex::full_match(std::string_view s) const {
  if (!code_) return false;
  MatchData md(pcre2_match_data_create_from_pattern(static_cast<pcre2_code*>(code_.get()), nullptr),
               pcre2_match_data_free);
  return match(s, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md.get()) >= 0;
}

bool SafeRegex::search(std::string_view s) const {
  if (!code_) return false;
  MatchData md(pcre2_match_data_create_from_pattern(static_cast<pcre2_code*>(code_.get()), nullptr),
               pcre2_match_data_free);
  return match(s, 0, 0, md.get()) >= 0;
}

void SafeRegex::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  if (!code_) return;
  MatchData md(pcre2_match_data_create_from_pattern(static_cast<pcre2_code*>(code_.get()), nullptr),
               pcre2_match_data_free);
  size_t pos = 0;
  while (pos <= s.size()) {
    if (match(s, pos, 0, md.get()) < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {  // an empty match: skip one character
      if (b >= s.size()) break;
      pos = b + (utf_ ? utf8_len(static_cast<unsigned char>(s[b])) : 1);
    }
  }
}

}  // namespace rig
