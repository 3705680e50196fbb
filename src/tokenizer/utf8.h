#pragma once
// UTF-8 helpers and GPT-2's byte <-> unicode map. Internal to src/tokenizer.
// Character classes (letters, numbers, white space) and normalization come from PCRE2 and
// ICU; only the UTF-8 encoding itself is handled here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rig::tok {

// The length of the longest valid UTF-8 sequence starting at s[i] (1..4), or 0 when the bytes
// there do not start a valid, complete, shortest-form sequence of a scalar value.
size_t utf8_valid_len(std::string_view s, size_t i);

// The byte offset of the first invalid byte, or npos when `s` is valid UTF-8.
size_t utf8_find_invalid(std::string_view s);

// The length of the character starting at s[i] for text already known to be valid.
inline size_t utf8_char_len(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

// Like Rust's String::from_utf8_lossy (which HF uses): each maximal invalid subpart becomes
// one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

void utf8_append(std::string& out, char32_t cp);
char32_t utf8_decode_at(std::string_view s, size_t i);  // valid text only

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the other 68 to U+0100...
// byte_to_unicode(b) is the UTF-8 of that character; unicode_to_byte(cp) is -1 if none.
const std::string& byte_to_unicode(unsigned char b);
int unicode_to_byte(char32_t cp);

}  // namespace rig::tok
