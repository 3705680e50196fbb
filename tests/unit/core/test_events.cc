// The built-in events' one definition (core/events.h), which the runner, stimulation and
// analysis share.
#include "catch.h"
#include "core/events.h"

using namespace rig;

TEST_CASE("built-in events: a trial that generated and ended with EOS has all three") {
  const auto ev = builtin_events(/*n_prompt_tokens=*/5, /*n_generated=*/3, /*ended_by_eos=*/true);
  CHECK(ev.size() == 3);
  CHECK(ev.at("prompt_onset") == 0);
  CHECK(ev.at("response_onset") == 5);  // the first generated row
  CHECK(ev.at("eos") == 7);             // the last row: 5 prompt rows + 3 generated - 1
}

TEST_CASE("built-in events: absent when they did not happen") {
  const auto prompt_only = builtin_events(4, 0, false);
  CHECK(prompt_only.size() == 1);
  CHECK(prompt_only.count("response_onset") == 0);
  const auto by_length = builtin_events(4, 2, false);
  CHECK(by_length.count("eos") == 0);
  CHECK(by_length.at("response_onset") == 4);
}

TEST_CASE("built-in events: names, and which are known before the response") {
  for (const char* e : kBuiltinEvents) CHECK(is_builtin_event(e));
  CHECK_FALSE(is_builtin_event("response"));
  CHECK(known_before_response("prompt_onset"));
  CHECK(known_before_response("response_onset"));
  CHECK_FALSE(known_before_response("eos"));
}
