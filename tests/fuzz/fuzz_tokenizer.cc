// libFuzzer harness: tokenizer.json loading, then encoding and decoding a text with it.
// Input: the tokenizer.json text, a NUL byte, then the text to encode (the seeds in
// corpus/tokenizer are small real tokenizers). Any rig::Error is a clean refusal.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string_view json = all.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view("Hello, world!") : all.substr(nul + 1);
  try {
    const rig::Tokenizer tok = rig::Tokenizer::from_json_text(json, "fuzz/tokenizer.json");
    for (bool special : {false, true}) {
      const auto enc = tok.encode(text, special);
      (void)tok.decode(enc.ids, /*skip_special_tokens=*/!special);
    }
  } catch (const rig::Error&) {}
  return 0;
}
