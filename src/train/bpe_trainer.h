#pragma once
// Trains a byte-level BPE tokenizer (GPT-2 / GPT-NeoX style) and writes it as an HF
// tokenizer.json: NFC normalizer, ByteLevel pre-tokenizer with the GPT-2 regex, BPE model
// over the 256 byte symbols, ByteLevel post-processor and decoder, and <|endoftext|> as the
// special token with id 0 (Pythia's layout). rig's Tokenizer and HF tokenizers read it alike.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rig::train {

struct BpeOptions {
  int64_t vocab_size = 1024;  // special token + 256 bytes + merges
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
};

// Learns merges from texts (each pre-tokenized with the GPT-2 regex, as encoding will be).
// Each step merges the most frequent adjacent pair; ties go to the pair whose (left, right)
// strings sort first, so the result depends on the texts and options only.
// Returns the tokenizer.json document.
nlohmann::json train_bpe(const std::vector<std::string>& texts, const BpeOptions& options);

}  // namespace rig::train
