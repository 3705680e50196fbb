#include "core/json_guard.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace rig {

std::optional<std::string> json_depth_error(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') line++, line_start = i + 1;
    if (in_string) {
      if (c == '\\') ++i;  // an escaped character never ends the string
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return "nested deeper than " + std::to_string(max_depth) + " levels (rig's limit) at line " +
               std::to_string(line) + ", column " + std::to_string(i - line_start + 1);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

namespace {

// The error type main() and tests expect for an exit code (ModelError for 3, ...).
[[noreturn]] void fail(const std::string& msg, int exit_code) {
  switch (exit_code) {
    case kExitConfig: throw ConfigError(msg);
    case kExitModel: throw ModelError(msg);
    case kExitData: throw DataError(msg);
    default: throw Error(msg, exit_code);
  }
}

}  // namespace

std::string read_text_file(const std::string& path, const std::string& what, int exit_code) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path + ": cannot read " + what + ": " + std::strerror(errno), exit_code);
  if (S_ISDIR(st.st_mode)) fail(path + ": expected " + what + " (a file), got a directory", exit_code);
  if (!S_ISREG(st.st_mode)) fail(path + ": expected " + what + " (a regular file), got a special file", exit_code);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open " + what + ": " + std::strerror(errno), exit_code);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail(path + ": cannot read " + what, exit_code);
  return buf.str();
}

}  // namespace rig
