#include "tokenizer/pattern.h"

#include <stdexcept>

#include "tokenizer/utf8.h"

namespace rig::tok {

Regex::Regex(const std::string& pattern, const JsonCtx& ctx) {
  try {
    re_ = SafeRegex(pattern, /*utf=*/true, kExitModel);
  } catch (const std::invalid_argument& e) {
    ctx.fail("cannot compile regex '" + pattern + "' " + e.what());
  }
}

void Regex::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  std::vector<std::pair<size_t, size_t>> all;
  re_.find_all(s, all);
  for (const auto& m : all)
    if (m.second > m.first) out.push_back(m);
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
