// The guards every parser of untrusted text goes through: JSON nesting, regex limits.
#include <string>

#include "catch.h"
#include "core/error.h"
#include "core/json_guard.h"
#include "core/limits.h"
#include "core/regex.h"

TEST_CASE("json_depth_error: refuses deep nesting with a line and column, ignores brackets in strings") {
  REQUIRE_FALSE(rig::json_depth_error(R"({"a": [[1], {"b": "[[[[[["}]})", 3));
  const auto e = rig::json_depth_error("{\n  \"a\": [[[1]]]}", 3);
  REQUIRE(e);
  REQUIRE(e->find("line 2, column 10") != std::string::npos);
  REQUIRE(e->find("3 levels") != std::string::npos);
  const std::string deep(100000, '[');
  REQUIRE(rig::json_depth_error(deep, rig::limits::kJsonDepth));
  REQUIRE_FALSE(rig::json_depth_error(R"(["\"[[[["])", 1));  // an escaped quote does not end the string
}

TEST_CASE("SafeRegex: full and partial matches, compile errors with offsets, limits instead of hangs") {
  const rig::SafeRegex site("gpt_neox\\.layers\\.[0-9]+\\.mlp\\.act");
  REQUIRE(site.full_match("gpt_neox.layers.11.mlp.act"));
  REQUIRE_FALSE(site.full_match("gpt_neox.layers.11.mlp.act.x"));
  REQUIRE(rig::SafeRegex("mlp").search("gpt_neox.layers.1.mlp"));
  try {
    rig::SafeRegex bad("gpt(");
    FAIL("compiled");
  } catch (const std::invalid_argument& e) {
    REQUIRE(std::string(e.what()).find("offset 4") != std::string::npos);
  }
  // 30k nested groups: a compile error (std::regex overflowed the stack here).
  REQUIRE_THROWS_AS(rig::SafeRegex(std::string(30000, '(') + "a" + std::string(30000, ')')), std::invalid_argument);
  // Catastrophic backtracking: an error after the step limit (std::regex ran for ever).
  const rig::SafeRegex slow("(a|aa)*(a|aa)*(a|aa)*(a|aa)*(a|aa)*");
  try {
    slow.full_match(std::string(60, 'a') + "!");
    FAIL("matched without hitting the limit");
  } catch (const rig::Error& e) {
    REQUIRE(e.exit_code() == rig::kExitConfig);
    REQUIRE(std::string(e.what()).find("limit") != std::string::npos);
  }
}
