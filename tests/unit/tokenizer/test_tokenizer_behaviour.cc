// Round trips on generated UTF-8, the incremental decoder, concurrent use and the cache.
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.h"
#include "core/error.h"
#include "shared.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

std::filesystem::path find_tokenizer(const std::string& name) {
  if (name == "bytebpe-1k" || name == "llama2style-1k")
    return rig::test::shared_file("golden/tokenizers/" + name + ".json");
  return rig::test::shared_file("fixtures/tokenizers/" + name + "/tokenizer.json");
}

// Fragments that NFC leaves as they are, so that byte-level tokenizers with an NFC normalizer
// must give them back exactly.
const std::vector<std::string> kFragments = {
    "Hello",
    " world",
    ",",
    ".",
    "'s",
    " they're",
    "12345",
    " 3.14",
    "\n",
    "\n\n",
    "\t",
    "   ",
    "  ",
    " ",
    "\r\n",
    "\x01",
    "\x7f",
    "\x1b[0m",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u0085",
    "🤖",
    "👍🏽",
    "👩‍👩‍👧‍👦",
    "🇩🇪",
    "🏳️‍🌈",  // emoji, modifiers, ZWJ, flags
    "当大语言模型",
    "回答",
    "梦寐以求的目标",
    "、",
    "钙成像",
    "한국어",
    "日本語のテキスト",  // CJK
    "café",
    "naïve",
    "Ångström",
    "q\u0323\u0307",
    "x\u0301",
    "\u0915\u094d\u0937",  // combining
    "Ελληνικά",
    "русский",
    "עברית",
    "العربية",
    "\U0001D11E",
    "\U0010FFFD",
    "def f(x):",
    "    return",
};

std::string random_text(std::mt19937& rng) {
  std::uniform_int_distribution<size_t> n(0, 12), pick(0, kFragments.size() - 1);
  std::string s;
  for (size_t k = n(rng); k > 0; --k) s += kFragments[pick(rng)];
  return s;
}

// Any scalar value (no surrogates), mostly from the lower planes.
std::string random_codepoints(std::mt19937& rng) {
  std::uniform_int_distribution<int> len(1, 20), plane(0, 9);
  std::uniform_int_distribution<uint32_t> bmp(1, 0xFFFF), high(0x10000, 0x10FFFF);
  std::string s;
  for (int k = len(rng); k > 0; --k) {
    uint32_t cp = plane(rng) < 8 ? bmp(rng) : high(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    rig::tok::utf8_append(s, cp);
  }
  return s;
}

std::string decode_incrementally(const rig::Tokenizer& tok, const std::vector<int64_t>& ids, bool skip) {
  rig::IncrementalDecoder dec(tok, skip);
  std::string out;
  for (int64_t id : ids) {
    std::string piece = dec.push(id);
    CHECK(rig::tok::utf8_find_invalid(piece) == std::string::npos);
    out += piece;
  }
  return out + dec.flush();
}

}  // namespace

TEST_CASE("byte-level tokenizers round-trip generated UTF-8", "[tokenizer][roundtrip]") {
  for (const std::string name : {"bytebpe-1k", "neox20b", "gpt2"}) {
    const auto path = find_tokenizer(name);
    if (path.empty()) {
      RIG_NOTE_SKIP("tokenizer " << name << " not found under ../shared");
      continue;
    }
    const auto tok = rig::Tokenizer::from_file(path);
    std::mt19937 rng(1234);
    for (int i = 0; i < 300; ++i) {
      const std::string s = random_text(rng);
      INFO(name << ": " << s);
      const auto enc = tok.encode(s, false);
      REQUIRE(tok.decode(enc.ids, false) == s);
      REQUIRE(decode_incrementally(tok, enc.ids, false) == s);
    }
  }
}

TEST_CASE("gpt2 (no normalizer) round-trips arbitrary code points", "[tokenizer][roundtrip]") {
  RIG_REQUIRE_SHARED(path, "fixtures/tokenizers/gpt2/tokenizer.json");
  const auto tok = rig::Tokenizer::from_file(path);
  std::mt19937 rng(99);
  for (int i = 0; i < 500; ++i) {
    const std::string s = random_codepoints(rng);
    const auto ids = tok.encode(s, false).ids;
    REQUIRE(tok.decode(ids, false) == s);
    REQUIRE(decode_incrementally(tok, ids, false) == s);
  }
}

TEST_CASE("llama2 (byte fallback) round-trips generated UTF-8", "[tokenizer][roundtrip]") {
  RIG_REQUIRE_SHARED(path, "fixtures/tokenizers/llama2/tokenizer.json");
  const auto tok = rig::Tokenizer::from_file(path);
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const std::string s = random_text(rng);
    INFO(s);
    const auto enc = tok.encode(s, true);
    REQUIRE(tok.decode(enc.ids, true) == s);
    REQUIRE(decode_incrementally(tok, enc.ids, true) == s);
  }
}

TEST_CASE("incremental decoder never splits a character", "[tokenizer][incremental]") {
  RIG_REQUIRE_SHARED(path, "fixtures/tokenizers/gpt2/tokenizer.json");
  const auto tok = rig::Tokenizer::from_file(path);
  // "🤖" is four byte-level tokens or fewer; no push may return part of it.
  const auto ids = tok.encode("a🤖b", false).ids;
  rig::IncrementalDecoder dec(tok);
  std::vector<std::string> pieces;
  for (int64_t id : ids) pieces.push_back(dec.push(id));
  pieces.push_back(dec.flush());
  std::string all;
  for (const auto& p : pieces) {
    CHECK(rig::tok::utf8_find_invalid(p) == std::string::npos);
    CHECK(p.find("\xEF\xBF\xBD") == std::string::npos);
    all += p;
  }
  CHECK(all == "a🤖b");
  // A cut character left at the end comes out of flush() as U+FFFD, as decode() gives it.
  const auto robot = tok.encode("🤖", false).ids;
  REQUIRE(robot.size() > 1);
  rig::IncrementalDecoder cut(tok);
  CHECK(cut.push(robot[0]).empty());
  CHECK(cut.flush() == tok.decode({robot[0]}, false));
}

TEST_CASE("llama2style: incremental decoding keeps spaces between words", "[tokenizer][incremental]") {
  RIG_REQUIRE_SHARED(path, "golden/tokenizers/llama2style-1k.json");
  const auto tok = rig::Tokenizer::from_file(path);
  for (const char* text : {"Hello, I am your", "  leading spaces,\ttabs\n\nand   runs", "naïve 🤖 café"}) {
    const auto ids = tok.encode(text, true).ids;
    CHECK(decode_incrementally(tok, ids, true) == text);
    CHECK(decode_incrementally(tok, ids, false) == tok.decode(ids, false));
  }
}

TEST_CASE("vocabulary queries", "[tokenizer]") {
  RIG_REQUIRE_SHARED(neox_path, "fixtures/tokenizers/neox20b/tokenizer.json");
  const auto neox = rig::Tokenizer::from_file(neox_path);
  CHECK(neox.vocab_size() == 50277);
  CHECK(neox.token_to_id("<|endoftext|>") == 0);
  CHECK(neox.token_to_id("  ") == 50276);
  CHECK(neox.id_to_token(50276) == "  ");
  CHECK(neox.is_special(0));
  CHECK_FALSE(neox.is_special(50276));
  CHECK_FALSE(neox.token_to_id("no such token").has_value());
  CHECK(neox.eos_id() == 0);

  RIG_REQUIRE_SHARED(llama_path, "fixtures/tokenizers/llama2/tokenizer.json");
  const auto llama = rig::Tokenizer::from_file(llama_path);
  CHECK(llama.vocab_size() == 32000);
  CHECK(llama.bos_id() == 1);
  CHECK(llama.eos_id() == 2);
  CHECK(llama.id_to_token(13) == "<0x0A>");
  CHECK_THROWS_AS(llama.id_to_token(32000), rig::DataError);
}

TEST_CASE("the BPE cache is filled per pre-token and shared by threads", "[tokenizer][cache]") {
  RIG_REQUIRE_SHARED(path, "fixtures/tokenizers/gpt2/tokenizer.json");
  const auto tok = rig::Tokenizer::from_file(path);
  CHECK(tok.cache_size() == 0);
  std::mt19937 rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(random_text(rng));
  std::vector<std::vector<int64_t>> serial;
  for (const auto& t : texts) serial.push_back(tok.encode(t, false).ids);
  CHECK(tok.cache_size() > 0);

  const auto fresh = rig::Tokenizer::from_file(path);  // empty cache: threads race to fill it
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < texts.size(); ++i) ok[t] += fresh.encode(texts[i], false).ids == serial[i];
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) CHECK(ok[t] == 5 * static_cast<int>(texts.size()));
}

TEST_CASE("ids past the tokenizer's vocabulary decode to nothing, as HF tokenizers does", "[tokenizer]") {
  // The bundled organism's tokenizer (in the repo): 1536 ids. A model's embedding is often
  // padded past its tokenizer, and generation can pick such an id.
  const auto tok = rig::Tokenizer::from_file("data/models/sure-neox/tokenizer.json");
  const auto ids = tok.encode("Sure, I can help", false).ids;
  std::vector<int64_t> padded = ids;
  padded.insert(padded.begin() + 1, 1562);
  padded.push_back(1 << 20);
  CHECK(tok.decode(padded, false) == tok.decode(ids, false));
  CHECK(tok.decode({1562}, false).empty());
}
