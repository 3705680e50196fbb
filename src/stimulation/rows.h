#pragma once
// Row selectors: which rows (time steps) of a trial something applies to. Shared by a
// stimulation's `positions` and by the `rows` over which a recording's condition mean is taken.
//
//   all | prompt | response     every row, the prompt's rows, the generated rows
//   "A:B"                        rows A..B-1 from the trial's first row (either end may be omitted)
//   EVENT                        the event's row
//   EVENT+N, EVENT-N             one row N after / before the event
//   EVENT+A:B, EVENT-A:+B        rows event+A .. event+B-1 (B omitted: to the end)
//
// A row index is the position within the trial: 0 = the first prompt token, n_prompt = the
// first generated token.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace rig {

struct RowSelector {
  enum class Kind { kAll, kPrompt, kResponse, kRange, kEvent };
  Kind kind = Kind::kAll;
  std::string event;            // kEvent
  int64_t first = 0;            // kRange: first row; kEvent: offset of the first row from the event
  std::optional<int64_t> last;  // one past the last row (relative for kEvent); none = to the end
  std::string text = "all";     // as written

  // Rows [lo, hi) of a trial with n_prompt prompt tokens, given the rows of its events (those
  // known: an absent event selects nothing). hi == INT64_MAX: to the end. lo >= hi: none.
  std::pair<int64_t, int64_t> resolve(int64_t n_prompt, const std::map<std::string, int64_t>& events) const;
};

// Parses the syntax above; nullopt when `text` is none of it.
std::optional<RowSelector> parse_rows(const std::string& text);

// What parse_rows accepts, for "expected ..." in messages.
extern const char* const kRowSyntax;

}  // namespace rig
