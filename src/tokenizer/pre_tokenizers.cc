#include "tokenizer/pre_tokenizers.h"

#include "tokenizer/pattern.h"
#include "tokenizer/utf8.h"

namespace rig::tok {
namespace {

// GPT-2's pattern as HF writes it, with \s spelled as Unicode White_Space (what Oniguruma's
// \s matches in HF) so that it does not depend on PCRE2's own reading of \s.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+"
    "|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, const JsonCtx& ctx) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, ctx);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    std::vector<std::pair<size_t, size_t>> spans;
    for (Piece& p : pieces) {
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
      spans.clear();
      if (regex_) regex_->find_all(p.text, spans);
      else spans.emplace_back(0, p.text.size());
      // With the GPT-2 pattern every character is matched; pieces between matches (possible
      // with use_regex false only as the whole text) are kept as in HF's Isolated split.
      size_t prev = 0;
      bool first = p.at_start;
      auto emit = [&](size_t b, size_t e) {
        if (e <= b) return;
        Piece q;
        q.at_start = first && b == 0;
        q.text.reserve((e - b) * 2);
        for (size_t i = b; i < e; ++i) q.text += byte_to_unicode(static_cast<unsigned char>(p.text[i]));
        out.push_back(std::move(q));
      };
      for (auto [b, e] : spans) {
        emit(prev, b);
        emit(b, e);
        prev = e;
      }
      emit(prev, p.text.size());
    }
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class Prepend { kAlways, kFirst, kNever };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, Prepend scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (Piece& p : pieces) {
      std::string s;
      s.reserve(p.text.size() + replacement_.size());
      for (char c : p.text) {
        if (c == ' ') s += replacement_;
        else s += c;
      }
      if ((scheme_ == Prepend::kAlways || (scheme_ == Prepend::kFirst && p.at_start)) &&
          s.compare(0, replacement_.size(), replacement_) != 0)
        s.insert(0, replacement_);
      if (!split_) {
        if (!s.empty()) out.push_back({std::move(s), p.at_start});
        continue;
      }
      // Split on the replacement, each one merged with the text after it.
      size_t start = 0;
      for (size_t pos = s.find(replacement_, 1); pos != std::string::npos; pos = s.find(replacement_, pos + 1)) {
        if (pos > start) out.push_back({s.substr(start, pos - start), p.at_start && start == 0});
        start = pos;
      }
      if (start < s.size()) out.push_back({s.substr(start), p.at_start && start == 0});
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Prepend scheme_;
  bool split_;
};

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class Split : public PreTokenizer {
 public:
  Split(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (const Piece& p : pieces) {
      std::vector<Match> m = pattern_.find_matches(p.text);
      if (invert_)
        for (Match& x : m) x.is_match = !x.is_match;
      std::vector<Match> merged;  // as HF's NormalizedString::split
      bool previous_match = false;
      switch (behavior_) {
        case Behavior::kRemoved:
          for (const Match& x : m)
            if (!x.is_match) merged.push_back(x);
          break;
        case Behavior::kIsolated: merged = m; break;
        case Behavior::kMergedWithPrevious:
          for (const Match& x : m) {
            if (x.is_match && !previous_match && !merged.empty()) merged.back().end = x.end;
            else merged.push_back(x);
            previous_match = x.is_match;
          }
          break;
        case Behavior::kMergedWithNext:
          for (auto it = m.rbegin(); it != m.rend(); ++it) {
            if (it->is_match && !previous_match && !merged.empty()) merged.back().begin = it->begin;
            else merged.push_back(*it);
            previous_match = it->is_match;
          }
          std::reverse(merged.begin(), merged.end());
          break;
        case Behavior::kContiguous:
          for (size_t i = 0; i < m.size(); ++i) {
            if (i > 0 && m[i].is_match == previous_match) merged.back().end = m[i].end;
            else merged.push_back(m[i]);
            previous_match = m[i].is_match;
          }
          break;
      }
      for (const Match& x : merged)
        if (x.end > x.begin) out.push_back({p.text.substr(x.begin, x.end - x.begin), p.at_start && x.begin == 0});
    }
    pieces = std::move(out);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : items_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonCtx& ctx) {
  const std::string type = ctx.str(j, "type");
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(ctx.boolean(j, "add_prefix_space", true), ctx.boolean(j, "use_regex", true),
                                       ctx);
  if (type == "Metaspace") {
    std::string rep = ctx.str(j, "replacement");
    if (rep.empty() || utf8_find_invalid(rep) != std::string::npos ||
        utf8_char_len(static_cast<unsigned char>(rep[0])) != rep.size())
      (ctx / "replacement").fail("expected one character, found '" + rep + "'");
    Prepend scheme = ctx.boolean(j, "add_prefix_space", true) ? Prepend::kAlways : Prepend::kNever;
    if (auto s = ctx.opt_str(j, "prepend_scheme")) {
      if (*s == "always") scheme = Prepend::kAlways;
      else if (*s == "first") scheme = Prepend::kFirst;
      else if (*s == "never") scheme = Prepend::kNever;
      else (ctx / "prepend_scheme").fail("expected always, first or never, found '" + *s + "'");
    }
    return std::make_unique<Metaspace>(std::move(rep), scheme, ctx.boolean(j, "split", true));
  }
  if (type == "Split") {
    const std::string b = ctx.str(j, "behavior");
    Behavior behavior;
    if (b == "Removed") behavior = Behavior::kRemoved;
    else if (b == "Isolated") behavior = Behavior::kIsolated;
    else if (b == "MergedWithPrevious") behavior = Behavior::kMergedWithPrevious;
    else if (b == "MergedWithNext") behavior = Behavior::kMergedWithNext;
    else if (b == "Contiguous") behavior = Behavior::kContiguous;
    else (ctx / "behavior").fail("unsupported split behavior '" + b + "'");
    return std::make_unique<Split>(Pattern::from_json(ctx.require(j, "pattern"), ctx / "pattern"), behavior,
                                   ctx.boolean(j, "invert", false));
  }
  if (type == "Sequence") {
    const Json& list = ctx.array(j, "pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (size_t i = 0; i < list.size(); ++i) items.push_back(make_pre_tokenizer(list[i], (ctx / "pretokenizers")[i]));
    return std::make_unique<Sequence>(std::move(items));
  }
  (ctx / "type").fail("unsupported pre-tokenizer '" + type + "' (supported: ByteLevel, Metaspace, Split, Sequence)");
}

}  // namespace rig::tok
