// Parity with HF tokenizers: every entry of ../shared/golden/tokenizer_golden.json, for the
// two small golden tokenizers and the three real ones read from ../shared/fixtures.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "catch.h"
#include "shared.h"
#include "tokenizer/tokenizer.h"

namespace {

std::filesystem::path tokenizer_path(const std::string& name) {
  if (name == "bytebpe-1k" || name == "llama2style-1k")
    return rig::test::shared_file("golden/tokenizers/" + name + ".json");
  return rig::test::shared_file("fixtures/tokenizers/" + name + "/tokenizer.json");
}

void check_golden(const std::string& name) {
  RIG_REQUIRE_SHARED(golden_path, "golden/tokenizer_golden.json");
  const auto path = tokenizer_path(name);
  if (path.empty()) {
    RIG_NOTE_SKIP("tokenizer " << name << " not found under ../shared");
    return;
  }
  std::ifstream in(golden_path);
  const auto golden = nlohmann::json::parse(in);
  REQUIRE(golden.contains(name));
  const auto tok = rig::Tokenizer::from_file(path);
  const auto& entries = golden.at(name);
  REQUIRE(!entries.empty());
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::string text = e.at("text");
    INFO(name << " entry " << i << ": " << nlohmann::json(text).dump());
    const auto ids = e.at("ids").get<std::vector<int64_t>>();
    const auto ids_special = e.at("ids_with_special").get<std::vector<int64_t>>();

    const rig::Encoding plain = tok.encode(text, false);
    CHECK(plain.ids == ids);
    CHECK(plain.tokens == e.at("tokens").get<std::vector<std::string>>());
    CHECK(tok.encode(text, true).ids == ids_special);
    CHECK(tok.decode(ids, false) == e.at("decoded").get<std::string>());
    CHECK(tok.decode(ids_special, true) == e.at("decoded_skip_special").get<std::string>());
  }
}

}  // namespace

TEST_CASE("golden parity: bytebpe-1k", "[tokenizer][golden]") { check_golden("bytebpe-1k"); }
TEST_CASE("golden parity: llama2style-1k", "[tokenizer][golden]") { check_golden("llama2style-1k"); }
TEST_CASE("golden parity: neox20b", "[tokenizer][golden]") { check_golden("neox20b"); }
TEST_CASE("golden parity: gpt2", "[tokenizer][golden]") { check_golden("gpt2"); }
TEST_CASE("golden parity: llama2", "[tokenizer][golden]") { check_golden("llama2"); }
