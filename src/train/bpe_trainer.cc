#include "train/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/utf8.h"
#include "train/corpus.h"

namespace rig::train {
namespace {

using json = nlohmann::json;

json pre_tokenizer_json() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
}

// Splits a string of byte-level characters (each one UTF-8 sequence) into characters.
std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

json train_bpe(const std::vector<std::string>& texts, const BpeOptions& o) {
  if (o.vocab_size < 258)
    throw ConfigError("tokenizer vocab size: expected >= 258, got " + std::to_string(o.vocab_size));
  const auto pre = tok::make_pre_tokenizer(pre_tokenizer_json(), tok::JsonCtx("<bpe trainer>", "pre_tokenizer"));

  // Word counts over the pre-tokens (byte-level strings such as "ĠSure"). A std::map keeps
  // the order, and with it the result, independent of hashing.
  std::map<std::string, int64_t> counts;
  for (const auto& t : texts) {
    std::vector<tok::Piece> pieces{{t, true}};
    pre->pre_tokenize(pieces);
    for (const auto& p : pieces) ++counts[p.text];
  }

  // Symbols: the 256 byte characters in code point order (as HF's trainer sorts its
  // alphabet), ids after the special token.
  std::vector<std::string> symbols;
  for (int b = 0; b < 256; ++b) symbols.push_back(tok::byte_to_unicode(static_cast<unsigned char>(b)));
  std::sort(symbols.begin(), symbols.end(), [](const std::string& a, const std::string& b) {
    return tok::utf8_decode_at(a, 0) < tok::utf8_decode_at(b, 0);
  });
  std::unordered_map<std::string, int> id_of;
  for (size_t i = 0; i < symbols.size(); ++i) id_of[symbols[i]] = int(i);

  struct Word {
    std::vector<int> ids;
    int64_t count;
  };
  std::vector<Word> words;
  for (const auto& [w, n] : counts) {
    Word word{{}, n};
    for (const auto& ch : utf8_chars(w)) word.ids.push_back(id_of.at(ch));
    words.push_back(std::move(word));
  }

  std::vector<std::pair<std::string, std::string>> merges;
  const int64_t n_merges = o.vocab_size - 1 - int64_t(symbols.size());
  while (int64_t(merges.size()) < n_merges) {
    std::map<std::pair<int, int>, int64_t> pair_counts;
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.ids.size(); ++i) pair_counts[{w.ids[i], w.ids[i + 1]}] += w.count;
    const std::pair<int, int>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [p, n] : pair_counts) {
      if (n < o.min_frequency) continue;
      const bool better = n > best_count || (n == best_count &&
                                             std::tie(symbols[size_t(p.first)], symbols[size_t(p.second)]) <
                                                 std::tie(symbols[size_t(best->first)], symbols[size_t(best->second)]));
      if (better) {
        best = &p;
        best_count = n;
      }
    }
    if (!best) break;  // nothing frequent enough is left to merge
    const auto [a, b] = *best;
    const int merged = int(symbols.size());
    symbols.push_back(symbols[size_t(a)] + symbols[size_t(b)]);
    merges.emplace_back(symbols[size_t(a)], symbols[size_t(b)]);
    for (auto& w : words) {
      std::vector<int> ids;
      ids.reserve(w.ids.size());
      for (size_t i = 0; i < w.ids.size(); ++i) {
        if (i + 1 < w.ids.size() && w.ids[i] == a && w.ids[i + 1] == b) {
          ids.push_back(merged);
          ++i;
        } else {
          ids.push_back(w.ids[i]);
        }
      }
      w.ids = std::move(ids);
    }
  }

  json vocab = json::object();
  vocab[kEndOfText] = 0;
  for (size_t i = 0; i < symbols.size(); ++i) vocab[symbols[i]] = int64_t(i) + 1;
  json merge_list = json::array();
  for (const auto& [l, r] : merges) merge_list.push_back({l, r});
  const json special = {{"id", 0},         {"content", kEndOfText}, {"single_word", false}, {"lstrip", false},
                        {"rstrip", false}, {"normalized", false},   {"special", true}};
  json bl = pre_tokenizer_json();
  json dec = bl;
  dec["add_prefix_space"] = true;  // as in Pythia's file; ByteLevel decoding ignores it
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", {special}},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer", bl},
          {"post_processor", bl},
          {"decoder", dec},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merge_list}}}};
}

}  // namespace rig::train
