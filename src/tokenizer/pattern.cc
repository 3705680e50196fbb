#include "tokenizer/pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/utf8.h"

namespace rig::tok {

Regex::Regex(const std::string& pattern, const JsonCtx& ctx) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    ctx.fail("cannot compile regex '" + pattern + "' at offset " + std::to_string(err_off) + ": " +
             reinterpret_cast<const char*>(buf));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if unavailable
  code_.reset(code, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); });
}

void Regex::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  auto* code = static_cast<pcre2_code*>(code_.get());
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create_from_pattern(code, nullptr), pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  while (pos <= s.size()) {
    int rc = pcre2_match(code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof buf);
      throw Error(std::string("regex match failed: ") + reinterpret_cast<const char*>(buf));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {  // an empty match: skip one character
      if (b >= s.size()) break;
      pos = b + utf8_char_len(static_cast<unsigned char>(s[b]));
    }
  }
}

Pattern Pattern::from_json(const Json& j, const JsonCtx& ctx) {
  Pattern p;
  if (const Json* lit = ctx.optional(j, "String")) {
    if (!lit->is_string()) (ctx / "String").fail("expected a string");
    p.literal_ = lit->get<std::string>();
    if (p.literal_.empty()) (ctx / "String").fail("empty pattern");
  } else if (const Json* re = ctx.optional(j, "Regex")) {
    if (!re->is_string()) (ctx / "Regex").fail("expected a string");
    p.regex_ = std::make_shared<Regex>(re->get<std::string>(), ctx / "Regex");
  } else {
    ctx.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  return p;
}

std::vector<Match> Pattern::find_matches(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> spans;
  if (regex_) {
    regex_->find_all(s, spans);
  } else {
    for (size_t pos = s.find(literal_); pos != std::string_view::npos; pos = s.find(literal_, pos)) {
      spans.emplace_back(pos, pos + literal_.size());
      pos += literal_.size();
    }
  }
  std::vector<Match> out;
  size_t prev = 0;
  for (auto [b, e] : spans) {
    if (b > prev) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  }
  if (prev < s.size()) out.push_back({prev, s.size(), false});
  return out;
}

std::string Pattern::replace_all(std::string_view s, const std::string& content) const {
  std::string out;
  out.reserve(s.size());
  for (const Match& m : find_matches(s)) {
    if (m.is_match) out += content;
    else out.append(s.substr(m.begin, m.end - m.begin));
  }
  return out;
}

}  // namespace rig::tok
