#include "tokenizer/normalizers.h"

#include <vector>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/locid.h>

#include "tokenizer/pattern.h"

namespace rig::tok {
namespace {

enum class Form { kNfc, kNfd, kNfkc, kNfkd };

class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(Form form, const JsonCtx& ctx) {
    UErrorCode status = U_ZERO_ERROR;
    switch (form) {
      case Form::kNfc: norm_ = icu::Normalizer2::getNFCInstance(status); break;
      case Form::kNfd: norm_ = icu::Normalizer2::getNFDInstance(status); break;
      case Form::kNfkc: norm_ = icu::Normalizer2::getNFKCInstance(status); break;
      case Form::kNfkd: norm_ = icu::Normalizer2::getNFKDInstance(status); break;
    }
    if (U_FAILURE(status)) ctx.fail(std::string("ICU normalizer unavailable: ") + u_errorName(status));
  }
  void normalize(std::string& s) const override {
    if (is_ascii(s)) return;  // every normal form leaves ASCII unchanged
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
    UErrorCode status = U_ZERO_ERROR;
    if (norm_->isNormalized(u, status) && U_SUCCESS(status)) return;
    status = U_ZERO_ERROR;
    icu::UnicodeString out = norm_->normalize(u, status);
    if (U_FAILURE(status)) throw Error(std::string("Unicode normalization failed: ") + u_errorName(status));
    s.clear();
    out.toUTF8String(s);
  }

 private:
  static bool is_ascii(const std::string& s) {
    for (unsigned char c : s)
      if (c >= 0x80) return false;
    return true;
  }
  const icu::Normalizer2* norm_ = nullptr;  // owned by ICU
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& s) const override {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
    u.toLower(icu::Locale::getRoot());
    s.clear();
    u.toUTF8String(s);
  }
};

// Prepends `prepend` to non-empty text (HF leaves empty text empty).
class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

class Replace : public Normalizer {
 public:
  Replace(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void normalize(std::string& s) const override { s = pattern_.replace_all(s, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

// HF's Strip: removes leading/trailing Unicode white space.
class Strip : public Normalizer {
 public:
  Strip(bool left, bool right, const JsonCtx& ctx)
      : left_(left), right_(right), ws_("^\\p{White_Space}+|\\p{White_Space}+$", ctx) {}
  void normalize(std::string& s) const override {
    std::vector<std::pair<size_t, size_t>> spans;
    ws_.find_all(s, spans);
    size_t b = 0, e = s.size();
    for (auto [mb, me] : spans) {
      if (mb == 0 && left_) b = me;
      if (me == s.size() && right_ && mb >= b) e = mb;
    }
    s = s.substr(b, e > b ? e - b : 0);
  }

 private:
  bool left_, right_;
  Regex ws_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& s) const override {
    for (const auto& n : items_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonCtx& ctx) {
  const std::string type = ctx.str(j, "type");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(Form::kNfc, ctx);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(Form::kNfd, ctx);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(Form::kNfkc, ctx);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(Form::kNfkd, ctx);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Prepend") return std::make_unique<Prepend>(ctx.str(j, "prepend"));
  if (type == "Replace")
    return std::make_unique<Replace>(Pattern::from_json(ctx.require(j, "pattern"), ctx / "pattern"),
                                     ctx.str(j, "content"));
  if (type == "Strip")
    return std::make_unique<Strip>(ctx.boolean(j, "strip_left", true), ctx.boolean(j, "strip_right", true), ctx);
  if (type == "Sequence") {
    const Json& list = ctx.array(j, "normalizers");
    std::vector<std::unique_ptr<Normalizer>> items;
    for (size_t i = 0; i < list.size(); ++i) items.push_back(make_normalizer(list[i], (ctx / "normalizers")[i]));
    return std::make_unique<Sequence>(std::move(items));
  }
  (ctx / "type")
      .fail("unsupported normalizer '" + type +
            "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)");
}

}  // namespace rig::tok
