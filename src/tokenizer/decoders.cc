#include "tokenizer/decoders.h"

#include "tokenizer/pattern.h"
#include "tokenizer/utf8.h"

namespace rig::tok {
namespace {

// Byte-level characters back to bytes; a token with any other character is taken as is
// (e.g. an added token "  "). All bytes become one lossily decoded string.
class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    std::string raw;
    for (const std::string& t : tokens) {
      raw.clear();
      bool ok = true;
      for (size_t i = 0; i < t.size() && ok;) {
        int b = unicode_to_byte(utf8_decode_at(t, i));
        if (b < 0) ok = false;
        else raw += static_cast<char>(b);
        i += utf8_char_len(static_cast<unsigned char>(t[i]));
      }
      bytes += ok ? raw : t;
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first) : rep_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t p = 0; p < t.size();) {
        if (t.compare(p, rep_.size(), rep_) == 0) {
          out += ' ';
          p += rep_.size();
        } else {
          out += t[p++];
        }
      }
      if (i == 0 && strip_first_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class Replace : public Decoder {
 public:
  Replace(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Runs of "<0xXX>" tokens become the text of their bytes, or one U+FFFD per byte when the
// run is not valid UTF-8 (as HF).
class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_len = 0;
    auto flush = [&] {
      if (!run_len) return;
      if (utf8_find_invalid(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run_len; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_len = 0;
    };
    for (std::string& t : tokens) {
      int byte = parse(t);
      if (byte >= 0) {
        run += static_cast<char>(byte);
        ++run_len;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int parse(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int h = hex(t[3]), l = hex(t[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters from each token.
class Strip : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const size_t n = content_.size();
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && e - b >= n && t.compare(b, n, content_) == 0; ++k) b += n;
      for (size_t k = 0; k < stop_ && e - b >= n && t.compare(e - n, n, content_) == 0; ++k) e -= n;
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

std::string one_char(const Json& j, const std::string& key, const JsonCtx& ctx) {
  std::string s = ctx.str(j, key);
  if (s.empty() || utf8_find_invalid(s) != std::string::npos ||
      utf8_char_len(static_cast<unsigned char>(s[0])) != s.size())
    (ctx / key).fail("expected one character, found '" + s + "'");
  return s;
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& j, const JsonCtx& ctx) {
  const std::string type = ctx.str(j, "type");
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    bool strip = ctx.boolean(j, "add_prefix_space", true);
    if (auto s = ctx.opt_str(j, "prepend_scheme")) strip = *s != "never";
    return std::make_unique<Metaspace>(one_char(j, "replacement", ctx), strip);
  }
  if (type == "Replace")
    return std::make_unique<Replace>(Pattern::from_json(ctx.require(j, "pattern"), ctx / "pattern"),
                                     ctx.str(j, "content"));
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    int64_t start = ctx.integer(j, "start"), stop = ctx.integer(j, "stop");
    if (start < 0) (ctx / "start").fail("negative");
    if (stop < 0) (ctx / "stop").fail("negative");
    return std::make_unique<Strip>(one_char(j, "content", ctx), static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Sequence") {
    const Json& list = ctx.array(j, "decoders");
    std::vector<std::unique_ptr<Decoder>> items;
    for (size_t i = 0; i < list.size(); ++i) items.push_back(make_decoder(list[i], (ctx / "decoders")[i]));
    return std::make_unique<Sequence>(std::move(items));
  }
  (ctx / "type")
      .fail("unsupported decoder '" + type +
            "' (supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)");
}

}  // namespace rig::tok
