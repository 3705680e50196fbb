#include "stimulation/rows.h"

#include <climits>
#include <regex>

namespace rig {

const char* const kRowSyntax =
    "all | prompt | response | \"A:B\" (rows from the trial's start) | EVENT | EVENT+N | EVENT+A:B";

std::optional<RowSelector> parse_rows(const std::string& text) {
  RowSelector r;
  r.text = text;
  if (text == "all") return r;
  if (text == "prompt") return r.kind = RowSelector::Kind::kPrompt, r;
  if (text == "response") return r.kind = RowSelector::Kind::kResponse, r;
  // std::regex recurses per character: a 200k-character spec overflowed the stack. No valid
  // spec comes near this length.
  if (text.size() > 256) return std::nullopt;
  static const std::regex range("([0-9]*):([0-9]*)");
  static const std::regex event("([A-Za-z_][A-Za-z0-9_]*)(?:([+-][0-9]+)(?::([+-]?[0-9]+)?)?)?");
  static const std::regex event_open("([A-Za-z_][A-Za-z0-9_]*)([+-][0-9]+):");
  std::smatch m;
  try {
    if (std::regex_match(text, m, range)) {
      r.kind = RowSelector::Kind::kRange;
      r.first = m[1].length() ? std::stoll(m[1]) : 0;
      if (m[2].length()) r.last = std::stoll(m[2]);
      if (r.last && *r.last <= r.first) return std::nullopt;
      return r;
    }
    if (std::regex_match(text, m, event_open)) {
      r.kind = RowSelector::Kind::kEvent;
      r.event = m[1];
      r.first = std::stoll(m[2]);
      return r;
    }
    if (std::regex_match(text, m, event)) {
      r.kind = RowSelector::Kind::kEvent;
      r.event = m[1];
      r.first = m[2].length() ? std::stoll(m[2]) : 0;
      r.last = m[3].length() ? std::stoll(m[3]) : r.first + 1;
      if (*r.last <= r.first) return std::nullopt;
      return r;
    }
  } catch (const std::out_of_range&) {}
  return std::nullopt;
}

std::pair<int64_t, int64_t> RowSelector::resolve(int64_t n_prompt, const std::map<std::string, int64_t>& events) const {
  constexpr int64_t kEnd = INT64_MAX;
  switch (kind) {
    case Kind::kAll: return {0, kEnd};
    case Kind::kPrompt: return {0, n_prompt};
    case Kind::kResponse: return {n_prompt, kEnd};
    case Kind::kRange: return {first, last ? *last : kEnd};
    case Kind::kEvent: {
      auto it = events.find(event);
      if (it == events.end()) return {0, 0};
      const int64_t lo = std::max<int64_t>(0, it->second + first);
      return {lo, last ? it->second + *last : kEnd};
    }
  }
  return {0, 0};
}

}  // namespace rig
