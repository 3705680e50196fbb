#pragma once
// The built-in events of a trial, defined once: the runner records them, stimulation places
// vectors at them, analysis aligns on them, and the config checks names against them.
#include <cstdint>
#include <map>
#include <string>

namespace rig {

inline constexpr const char* kBuiltinEvents[] = {"prompt_onset", "response_onset", "eos"};
inline constexpr const char* kBuiltinEventList = "prompt_onset, response_onset, eos";  // for messages

inline bool is_builtin_event(const std::string& name) {
  for (const char* e : kBuiltinEvents)
    if (name == e) return true;
  return false;
}

// Built-in events whose row is known before the response is generated.
inline bool known_before_response(const std::string& name) {
  return name == "prompt_onset" || name == "response_onset";
}

// name -> row within the trial (rows: the prompt's tokens, then the generated ones). An event
// that did not happen is absent: response_onset without generated tokens, eos unless the
// trial ended with the EOS token (its last row).
inline std::map<std::string, int64_t> builtin_events(int64_t n_prompt_tokens, int64_t n_generated, bool ended_by_eos) {
  std::map<std::string, int64_t> ev{{"prompt_onset", 0}};
  if (n_generated > 0) ev["response_onset"] = n_prompt_tokens;
  if (ended_by_eos && n_prompt_tokens + n_generated > 0) ev["eos"] = n_prompt_tokens + n_generated - 1;
  return ev;
}

}  // namespace rig
