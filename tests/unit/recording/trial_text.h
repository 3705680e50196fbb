#pragma once
// A /trials column's value in a trial as text, so that tests compare trials column by column
// (layout::kTrialColumns) and a failure names the column.
#include <string>
#include <type_traits>
#include <variant>

#include "recording/layout.h"

namespace rig::test {

inline std::string column_text(const layout::TrialColumn& c, const TrialFields& t, const TrialSpan& s = {}) {
  return std::visit(
      [&](auto m) -> std::string {
        using M = decltype(m);
        if constexpr (std::is_same_v<M, int64_t TrialSpan::*>) return std::to_string(s.*m);
        else if constexpr (std::is_same_v<M, std::string TrialFields::*>) return t.*m;
        else if constexpr (std::is_same_v<M, FinishReason TrialFields::*>) return finish_reason_name(t.*m);
        else return std::to_string(t.*m);
      },
      c.member);
}

}  // namespace rig::test
