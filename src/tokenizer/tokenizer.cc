#include "tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json_guard.h"
#include "core/limits.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_ctx.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/utf8.h"

namespace rig {

using tok::Json;
using tok::JsonCtx;

struct Tokenizer::Impl {
  std::string origin;
  std::unique_ptr<tok::Normalizer> normalizer;       // may be null
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;  // may be null
  std::unique_ptr<tok::Bpe> model;
  std::unique_ptr<tok::PostProcessor> post_processor;  // may be null
  std::unique_ptr<tok::Decoder> decoder;               // may be null: tokens joined by " "
  tok::AddedVocabulary added;
  int64_t vocab_size = 0;
  std::optional<int64_t> bos, eos;

  const std::string* token_of(int64_t id) const {
    if (const tok::AddedToken* a = added.by_id(id)) return &a->content;
    return model->id_to_token(id);
  }
};

namespace {

std::optional<int64_t> first_of(const tok::AddedVocabulary& added, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const tok::AddedToken* t = added.by_content(n)) return t->id;
  return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  return from_json_text(read_text_file(path.string(), "a tokenizer file (tokenizer.json)", kExitModel), path.string());
}

Tokenizer Tokenizer::from_json_text(std::string_view text, const std::string& origin) {
  if (auto deep = json_depth_error(text, limits::kJsonDepth))
    throw ModelError(origin + ": not a valid tokenizer.json: " + *deep);
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw ModelError(origin + ": not a valid tokenizer.json: " + e.what());
  }
  JsonCtx ctx(origin, "");
  if (!j.is_object()) ctx.fail("expected a JSON object at the top level");

  auto impl = std::make_shared<Impl>();
  impl->origin = origin;
  // Truncation and padding are batch options rig never applies (prompts are encoded whole,
  // one at a time), so they are accepted and ignored.
  if (const Json* n = ctx.optional(j, "normalizer")) impl->normalizer = tok::make_normalizer(*n, ctx / "normalizer");
  if (const Json* p = ctx.optional(j, "pre_tokenizer"))
    impl->pre_tokenizer = tok::make_pre_tokenizer(*p, ctx / "pre_tokenizer");
  const Json& model = ctx.require(j, "model");
  std::string type = (ctx / "model").opt_str(model, "type").value_or("BPE");
  if (type != "BPE") (ctx / "model" / "type").fail("unsupported model '" + type + "' (supported: BPE)");
  impl->model = std::make_unique<tok::Bpe>(model, ctx / "model");
  if (const Json* p = ctx.optional(j, "post_processor"))
    impl->post_processor = tok::make_post_processor(*p, ctx / "post_processor");
  if (const Json* d = ctx.optional(j, "decoder")) impl->decoder = tok::make_decoder(*d, ctx / "decoder");
  if (const Json* a = ctx.optional(j, "added_tokens")) impl->added = tok::AddedVocabulary(*a, ctx / "added_tokens");

  impl->vocab_size = impl->model->max_id() + 1;
  for (const auto& t : impl->added.tokens()) impl->vocab_size = std::max(impl->vocab_size, t.id + 1);

  // bos/eos: what the post-processor puts around a sequence, else the usual names.
  if (impl->post_processor) {
    tok::SpecialAround around;
    impl->post_processor->describe(around);
    if (!around.before_ids.empty()) impl->bos = around.before_ids.front();
    if (!around.after_ids.empty()) impl->eos = around.after_ids.back();
  }
  if (!impl->bos) impl->bos = first_of(impl->added, {"<s>", "<|begin_of_text|>", "<bos>", "<|endoftext|>"});
  if (!impl->eos) impl->eos = first_of(impl->added, {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"});
  return Tokenizer(std::move(impl));
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (size_t bad = tok::utf8_find_invalid(text); bad != std::string_view::npos)
    throw DataError("cannot tokenize text: invalid UTF-8 at byte " + std::to_string(bad));
  const Impl& m = *impl_;

  // 1. Added tokens that match the raw text; 2. normalize the rest; 3. added tokens that
  // match the normalized text; 4. pre-tokenize and run the model on what is left.
  std::vector<tok::Segment> segs;
  segs.push_back({std::string(text), -1, true});
  m.added.split(segs, /*normalized=*/false);
  if (m.normalizer)
    for (tok::Segment& s : segs)
      if (s.id < 0) m.normalizer->normalize(s.text);
  m.added.split(segs, /*normalized=*/true);

  Encoding enc;
  std::vector<tok::Piece> pieces;
  for (tok::Segment& s : segs) {
    if (s.id >= 0) {
      enc.ids.push_back(s.id);
      continue;
    }
    if (s.text.empty()) continue;
    pieces.clear();
    pieces.push_back({std::move(s.text), s.at_start});
    if (m.pre_tokenizer) m.pre_tokenizer->pre_tokenize(pieces);
    for (const tok::Piece& p : pieces) m.model->tokenize(p.text, enc.ids);
  }
  enc.tokens.reserve(enc.ids.size());
  for (int64_t id : enc.ids) enc.tokens.push_back(*m.token_of(id));
  if (add_special_tokens && m.post_processor) m.post_processor->add_special(enc.ids, enc.tokens);
  return enc;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    // An id past the tokenizer's vocabulary decodes to nothing, as HF tokenizers does: a
    // model's embedding is often padded beyond it (Pythia: 50304 rows, 50277 tokens) and
    // sampling can pick a padding id.
    if (id < 0) throw DataError("cannot decode id " + std::to_string(id) + ": ids are >= 0 (" + m.origin + ")");
    const std::string* t = m.token_of(id);
    if (!t) continue;
    if (skip_special_tokens && is_special(id)) continue;
    tokens.push_back(*t);
  }
  std::string out;
  if (m.decoder) {
    m.decoder->decode_chain(tokens);
    for (const std::string& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
  }
  return out;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  const std::string* t = impl_->token_of(id);
  if (!t) throw DataError("id " + std::to_string(id) + " is not in the vocabulary of " + impl_->origin);
  return *t;
}

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const {
  if (const tok::AddedToken* a = impl_->added.by_content(token)) return a->id;
  return impl_->model->token_to_id(token);
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

bool Tokenizer::is_special(int64_t id) const {
  const tok::AddedToken* a = impl_->added.by_id(id);
  return a && a->special;
}

std::optional<int64_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int64_t> Tokenizer::eos_id() const { return impl_->eos; }
size_t Tokenizer::cache_size() const { return impl_->model->cache_size(); }

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

// As HF's DecodeStream: decode a window that starts one step back (so that decoders which
// strip a leading space or depend on neighbours see the same context), and emit only when
// the text grew and does not end in an incomplete character (U+FFFD).
std::string IncrementalDecoder::push(int64_t id) {
  // A negative id throws before any state changes; ids past the vocabulary decode to nothing.
  if (id < 0) tokenizer_.decode({id}, false);
  ids_.push_back(id);
  std::vector<int64_t> prefix(ids_.begin() + prefix_offset_, ids_.begin() + read_offset_);
  std::vector<int64_t> window(ids_.begin() + prefix_offset_, ids_.end());
  std::string prefix_text = tokenizer_.decode(prefix, skip_special_);
  std::string new_text = tokenizer_.decode(window, skip_special_);
  static const std::string kReplacement = "\xEF\xBF\xBD";
  bool incomplete = new_text.size() >= 3 && new_text.compare(new_text.size() - 3, 3, kReplacement) == 0;
  if (new_text.size() > prefix_text.size() && !incomplete &&
      new_text.compare(0, prefix_text.size(), prefix_text) == 0) {
    prefix_offset_ = read_offset_;
    read_offset_ = ids_.size();
    // Keep the ids bounded: what lies before prefix_offset_ is never decoded again.
    ids_.erase(ids_.begin(), ids_.begin() + prefix_offset_);
    read_offset_ -= prefix_offset_;
    prefix_offset_ = 0;
    return new_text.substr(prefix_text.size());
  }
  return std::string();
}

std::string IncrementalDecoder::flush() {
  std::vector<int64_t> prefix(ids_.begin() + prefix_offset_, ids_.begin() + read_offset_);
  std::vector<int64_t> window(ids_.begin() + prefix_offset_, ids_.end());
  std::string prefix_text = tokenizer_.decode(prefix, skip_special_);
  std::string new_text = tokenizer_.decode(window, skip_special_);
  ids_.clear();
  prefix_offset_ = read_offset_ = 0;
  if (new_text.size() > prefix_text.size() && new_text.compare(0, prefix_text.size(), prefix_text) == 0)
    return new_text.substr(prefix_text.size());
  return std::string();
}

}  // namespace rig
