// Bad tokenizer files and bad input: clear errors naming the file and the JSON key.
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "catch.h"
#include "core/error.h"
#include "shared.h"
#include "tokenizer/tokenizer.h"

namespace {

using nlohmann::json;

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception>";
}

// A small, valid byte-level tokenizer that the cases below break one key at a time.
json small_tokenizer() {
  return json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                      "rstrip": false, "normalized": false, "special": true}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
    "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false,
              "vocab": {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4, "Ġab": 5},
              "merges": ["a b", "Ġ ab"]}
  })");
}

rig::Tokenizer load(const json& j) { return rig::Tokenizer::from_json_text(j.dump(), "small.json"); }

bool has(const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the small tokenizer works", "[tokenizer][errors]") {
  const auto tok = load(small_tokenizer());
  CHECK(tok.encode("ab ab<|endoftext|>", false).ids == std::vector<int64_t>{3, 5, 0});
  CHECK(tok.decode({3, 5, 0}, true) == "ab ab");
}

TEST_CASE("a missing or malformed tokenizer file is a ModelError naming the file", "[tokenizer][errors]") {
  auto missing = error_of<rig::ModelError>([] { rig::Tokenizer::from_file("/nonexistent/tokenizer.json"); });
  CHECK(has(missing, "/nonexistent/tokenizer.json"));

  const std::string text = small_tokenizer().dump();
  auto truncated =
      error_of<rig::ModelError>([&] { rig::Tokenizer::from_json_text(text.substr(0, text.size() / 2), "cut.json"); });
  CHECK(has(truncated, "cut.json"));
  CHECK(has(truncated, "not a valid tokenizer.json"));

  auto not_object = error_of<rig::ModelError>([] { rig::Tokenizer::from_json_text("[1, 2]", "arr.json"); });
  CHECK(has(not_object, "arr.json"));
}

TEST_CASE("a file on disk that is cut short names the file", "[tokenizer][errors]") {
  RIG_REQUIRE_SHARED(path, "golden/tokenizers/bytebpe-1k.json");
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  const auto tmp = std::filesystem::temp_directory_path() / "rig_test_truncated_tokenizer.json";
  std::ofstream(tmp) << buf.str().substr(0, 5000);
  auto msg = error_of<rig::ModelError>([&] { rig::Tokenizer::from_file(tmp); });
  std::filesystem::remove(tmp);
  CHECK(has(msg, tmp.string()));
}

TEST_CASE("missing and mistyped keys are named with their JSON path", "[tokenizer][errors]") {
  auto j = small_tokenizer();
  j["model"].erase("vocab");
  CHECK(has(error_of<rig::ModelError>([&] { load(j); }), "key 'model.vocab': missing"));

  j = small_tokenizer();
  j["model"]["merges"][1] = "Ġ zz";
  auto msg = error_of<rig::ModelError>([&] { load(j); });
  CHECK(has(msg, "model.merges[1]"));
  CHECK(has(msg, "'zz' is not in the vocabulary"));

  j = small_tokenizer();
  j["added_tokens"][0]["id"] = "zero";
  CHECK(has(error_of<rig::ModelError>([&] { load(j); }), "added_tokens[0].id"));

  j = small_tokenizer();
  j["model"]["unk_token"] = "<unk>";
  CHECK(has(error_of<rig::ModelError>([&] { load(j); }), "model.unk_token"));
}

TEST_CASE("an unsupported component is an error naming it, never approximated", "[tokenizer][errors]") {
  struct Case {
    const char* key;
    json value;
    const char* expect_key;
    const char* expect_type;
  };
  const std::vector<Case> cases = {
      {"normalizer", json{{"type", "BertNormalizer"}}, "normalizer.type", "BertNormalizer"},
      {"normalizer",
       json{{"type", "Sequence"}, {"normalizers", json::array({json{{"type", "NFC"}}, json{{"type", "Precompiled"}}})}},
       "normalizer.normalizers[1].type", "Precompiled"},
      {"pre_tokenizer", json{{"type", "Sequence"}, {"pretokenizers", json::array({json{{"type", "Digits"}}})}},
       "pre_tokenizer.pretokenizers[0].type", "Digits"},
      {"decoder", json{{"type", "WordPiece"}}, "decoder.type", "WordPiece"},
      {"post_processor", json{{"type", "Whatever"}}, "post_processor.type", "Whatever"},
  };
  for (const auto& c : cases) {
    auto j = small_tokenizer();
    j[c.key] = c.value;
    auto msg = error_of<rig::ModelError>([&] { load(j); });
    INFO(msg);
    CHECK(has(msg, "small.json"));
    CHECK(has(msg, c.expect_key));
    CHECK(has(msg, c.expect_type));
  }
  auto j = small_tokenizer();
  j["model"]["type"] = "Unigram";
  CHECK(has(error_of<rig::ModelError>([&] { load(j); }), "unsupported model 'Unigram'"));

  j = small_tokenizer();
  j["pre_tokenizer"] = json{{"type", "Split"}, {"pattern", json{{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  CHECK(has(error_of<rig::ModelError>([&] { load(j); }), "pre_tokenizer.pattern.Regex"));
}

TEST_CASE("invalid UTF-8 text and negative ids are DataErrors", "[tokenizer][errors]") {
  const auto tok = load(small_tokenizer());
  for (const std::string bad :
       {std::string("a\xff"), std::string("\xe2\x82"), std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    auto msg = error_of<rig::DataError>([&] { tok.encode(bad, false); });
    CHECK(has(msg, "invalid UTF-8"));
  }
  // Ids past the vocabulary decode to nothing (as HF tokenizers); negative ids are errors.
  CHECK(tok.decode({1, 999}, false) == tok.decode({1}, false));
  CHECK(has(error_of<rig::DataError>([&] { tok.decode({1, -1}, false); }), "-1"));
  rig::IncrementalDecoder dec(tok);
  CHECK(dec.push(999).empty());
  CHECK_THROWS_AS(dec.push(-1), rig::DataError);
}
