#include "tokenizer/added_tokens.h"

#include <algorithm>

#include <unicode/uchar.h>

#include "core/limits.h"
#include "tokenizer/utf8.h"

namespace rig::tok {
namespace {

bool is_space(char32_t c) { return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE); }
bool is_word(char32_t c) { return c == '_' || u_isalnum(static_cast<UChar32>(c)); }

char32_t last_char(std::string_view s, size_t end) {
  size_t i = end;
  do --i;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
  return utf8_decode_at(s, i);
}

}  // namespace

AddedVocabulary::AddedVocabulary(const Json& list, const JsonCtx& ctx) {
  if (!list.is_array()) ctx.fail("expected an array");
  tokens_.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& t = list[i];
    JsonCtx c = ctx[i];
    AddedToken a;
    a.id = c.integer(t, "id");
    a.content = c.str(t, "content");
    if (a.content.empty()) (c / "content").fail("empty added token");
    if (utf8_find_invalid(a.content) != std::string::npos) (c / "content").fail("not valid UTF-8");
    a.special = c.boolean(t, "special", false);
    a.normalized = c.boolean(t, "normalized", !a.special);
    a.single_word = c.boolean(t, "single_word", false);
    a.lstrip = c.boolean(t, "lstrip", false);
    a.rstrip = c.boolean(t, "rstrip", false);
    if (a.id < 0) (c / "id").fail("negative id");
    if (a.id >= limits::kMaxVocab)
      (c / "id").fail("expected an id below " + std::to_string(limits::kMaxVocab) + " (rig's limit), got " +
                      std::to_string(a.id));
    tokens_.push_back(std::move(a));
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_id_[tokens_[i].id] = i;
    by_content_.emplace(tokens_[i].content, i);
  }
  for (const AddedToken& t : tokens_) {
    Matcher& m = t.normalized ? normalized_ : raw_;
    m.by_first_byte[static_cast<unsigned char>(t.content[0])].push_back(&t);
    m.empty = false;
  }
  for (Matcher* m : {&raw_, &normalized_})
    for (auto& v : m->by_first_byte)
      std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->content.size() > b->content.size(); });
}

const AddedToken* AddedVocabulary::by_id(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(const std::string& content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

void AddedVocabulary::split(std::vector<Segment>& segs, bool normalized) const {
  const Matcher& m = normalized ? normalized_ : raw_;
  if (m.empty) return;
  std::vector<Segment> out;
  out.reserve(segs.size());
  for (Segment& s : segs) {
    if (s.id >= 0) out.push_back(std::move(s));
    else split_one(s, m, out);
  }
  segs = std::move(out);
}

// Leftmost-longest matching, as HF's aho-corasick (MatchKind::LeftmostLongest); lstrip/rstrip
// widen a match over white space, single_word rejects matches inside a word.
void AddedVocabulary::split_one(const Segment& seg, const Matcher& m, std::vector<Segment>& out) const {
  std::string_view s = seg.text;
  size_t text_start = 0;  // start of the text not yet emitted
  auto emit_text = [&](size_t b, size_t e) {
    if (e > b) out.push_back({std::string(s.substr(b, e - b)), -1, seg.at_start && b == 0});
  };
  for (size_t i = 0; i < s.size();) {
    const AddedToken* hit = nullptr;
    for (const AddedToken* t : m.by_first_byte[static_cast<unsigned char>(s[i])]) {
      if (s.compare(i, t->content.size(), t->content) != 0) continue;
      if (t->single_word) {
        size_t e = i + t->content.size();
        if ((i > 0 && is_word(last_char(s, i))) || (e < s.size() && is_word(utf8_decode_at(s, e)))) continue;
      }
      hit = t;
      break;
    }
    if (!hit) {
      i += utf8_char_len(static_cast<unsigned char>(s[i]));
      continue;
    }
    size_t b = i, e = i + hit->content.size();
    if (hit->lstrip) {
      b = i;
      while (b > text_start) {
        size_t k = b - 1;
        while (k > text_start && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
        if (!is_space(utf8_decode_at(s, k))) break;
        b = k;
      }
    }
    if (hit->rstrip)
      while (e < s.size() && is_space(utf8_decode_at(s, e))) e += utf8_char_len(static_cast<unsigned char>(s[e]));
    emit_text(text_start, b);
    out.push_back({std::string(s.substr(b, e - b)), hit->id, seg.at_start && b == 0});
    text_start = i = e;
  }
  emit_text(text_start, s.size());
}

}  // namespace rig::tok
