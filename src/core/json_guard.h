#pragma once
// Nesting check for JSON text before nlohmann's parser sees it: text nested ~100k deep
// overflows the stack (in the parser's error path and in rig's recursive walks of the value).
#include <optional>
#include <string>
#include <string_view>

namespace rig {

// "nested deeper than N levels at line L, column C" when `text` opens more than max_depth
// arrays/objects at once (brackets inside strings do not count); nullopt otherwise.
std::optional<std::string> json_depth_error(std::string_view text, int max_depth);

// Reads a whole file (any size the caller's later checks accept); throws rig::Error naming
// the file when it is missing, a directory or unreadable. `what` names the file's role.
std::string read_text_file(const std::string& path, const std::string& what, int exit_code);

}  // namespace rig
