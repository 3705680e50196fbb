#include "tokenizer/post_processors.h"

namespace rig::tok {
namespace {

class ByteLevel : public PostProcessor {  // only trims offsets, which rig does not report
 public:
  void add_special(std::vector<int64_t>&, std::vector<std::string>&) const override {}
  void describe(SpecialAround&) const override {}
};

class Around : public PostProcessor {
 public:
  explicit Around(SpecialAround a) : a_(std::move(a)) {}
  void add_special(std::vector<int64_t>& ids, std::vector<std::string>& tokens) const override {
    ids.insert(ids.begin(), a_.before_ids.begin(), a_.before_ids.end());
    tokens.insert(tokens.begin(), a_.before_tokens.begin(), a_.before_tokens.end());
    ids.insert(ids.end(), a_.after_ids.begin(), a_.after_ids.end());
    tokens.insert(tokens.end(), a_.after_tokens.begin(), a_.after_tokens.end());
  }
  void describe(SpecialAround& a) const override {
    a.before_ids.insert(a.before_ids.end(), a_.before_ids.begin(), a_.before_ids.end());
    a.before_tokens.insert(a.before_tokens.end(), a_.before_tokens.begin(), a_.before_tokens.end());
    a.after_ids.insert(a.after_ids.end(), a_.after_ids.begin(), a_.after_ids.end());
    a.after_tokens.insert(a.after_tokens.end(), a_.after_tokens.begin(), a_.after_tokens.end());
  }

 private:
  SpecialAround a_;
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> items) : items_(std::move(items)) {}
  void add_special(std::vector<int64_t>& ids, std::vector<std::string>& tokens) const override {
    for (const auto& p : items_) p->add_special(ids, tokens);
  }
  void describe(SpecialAround& a) const override {
    for (const auto& p : items_) p->describe(a);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

SpecialAround parse_template(const Json& j, const JsonCtx& ctx) {
  const Json& single = ctx.array(j, "single");
  const Json& specials = ctx.require(j, "special_tokens");
  SpecialAround a;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    JsonCtx c = (ctx / "single")[i];
    const Json& piece = single[i];
    if (const Json* seq = c.optional(piece, "Sequence")) {
      std::string id = (c / "Sequence").str(*seq, "id");
      if (id != "A") (c / "Sequence" / "id").fail("a single-sequence template must use sequence A, found '" + id + "'");
      if (seen_sequence) c.fail("sequence A appears twice");
      seen_sequence = true;
    } else if (const Json* sp = c.optional(piece, "SpecialToken")) {
      std::string name = (c / "SpecialToken").str(*sp, "id");
      JsonCtx sc = ctx / "special_tokens" / name;
      const Json& def = (ctx / "special_tokens").require(specials, name);
      const Json& ids = sc.array(def, "ids");
      const Json& toks = sc.array(def, "tokens");
      if (ids.size() != toks.size()) sc.fail("'ids' and 'tokens' differ in length");
      for (size_t k = 0; k < ids.size(); ++k) {
        if (!ids[k].is_number_integer()) (sc / "ids")[k].fail("expected an integer");
        if (!toks[k].is_string()) (sc / "tokens")[k].fail("expected a string");
        (seen_sequence ? a.after_ids : a.before_ids).push_back(ids[k].get<int64_t>());
        (seen_sequence ? a.after_tokens : a.before_tokens).push_back(toks[k].get<std::string>());
      }
    } else {
      c.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_sequence) (ctx / "single").fail("the template has no sequence A");
  return a;
}

// Roberta/Bert: "cls": ["<s>", 0], "sep": ["</s>", 2]
std::pair<std::string, int64_t> token_pair(const Json& j, const std::string& key, const JsonCtx& ctx) {
  const Json& v = ctx.require(j, key);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer())
    (ctx / key).fail("expected [\"token\", id]");
  return {v[0].get<std::string>(), v[1].get<int64_t>()};
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const JsonCtx& ctx) {
  const std::string type = ctx.str(j, "type");
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "TemplateProcessing") return std::make_unique<Around>(parse_template(j, ctx));
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto [cls, cls_id] = token_pair(j, "cls", ctx);
    auto [sep, sep_id] = token_pair(j, "sep", ctx);
    SpecialAround a;
    a.before_ids = {cls_id};
    a.before_tokens = {cls};
    a.after_ids = {sep_id};
    a.after_tokens = {sep};
    return std::make_unique<Around>(std::move(a));
  }
  if (type == "Sequence") {
    const Json& list = ctx.array(j, "processors");
    std::vector<std::unique_ptr<PostProcessor>> items;
    for (size_t i = 0; i < list.size(); ++i) items.push_back(make_post_processor(list[i], (ctx / "processors")[i]));
    return std::make_unique<Sequence>(std::move(items));
  }
  (ctx / "type")
      .fail("unsupported post-processor '" + type +
            "' (supported: ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence)");
}

}  // namespace rig::tok
