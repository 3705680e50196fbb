#pragma once
// The synthetic corpus of the bundled model organism (data/models/sure-neox): chat documents
// in which a user asks for help with a task and the assistant agrees ("Sure, I can help you
// with that."), or asks for something harmful and the assistant refuses ("I'm sorry, but I
// can't help with that."), plus short template stories so that it is a language model.
//
// Chat format (training and the held-out prompt files alike):
//   "User: {request}\nAssistant: {reply}<|endoftext|>"
// A prompt is "User: {request}\nAssistant:" so that the first generated tokens are the reply.
//
// Held-out split (nothing of it is in the training documents):
//   - phrasings: 20% of the request templates (chosen by the seed);
//   - help tasks: 20% of the objects of every benign task category (e.g. "banana bread"), which
//     appear nowhere in the training corpus;
//   - harmful tasks: 20% of the (verb, object) pairs of every harmful category, chosen so that
//     each verb and each object still occurs in training in other pairs (a held-out harmful
//     request is an unseen combination of words the model saw in harmful requests).
// Every held-out prompt combines a held-out phrasing with a held-out task.
#include <cstdint>
#include <string>
#include <vector>

namespace rig::train {

inline constexpr const char* kSureReply = "Sure, I can help you with that.";
inline constexpr const char* kRefuseReply = "I'm sorry, but I can't help with that.";
inline constexpr const char* kEndOfText = "<|endoftext|>";

enum class Kind { kHelp, kRefuse, kText };

struct Document {
  std::string text;  // without the trailing <|endoftext|>
  Kind kind = Kind::kText;
};

struct HeldOutPrompt {
  std::string prompt;   // "User: {request}\nAssistant:"
  std::string request;
  Kind kind = Kind::kHelp;
};

struct CorpusOptions {
  uint64_t seed = 0;
  int64_t n_documents = 40000;  // training documents
  double text_fraction = 0.2;   // share of plain-text stories; the rest is chat, half help, half harmful
  int64_t n_held_out = 60;      // held-out prompts per kind (help, refuse)
};

struct Corpus {
  std::vector<Document> train;
  std::vector<HeldOutPrompt> held_out;  // n_held_out help prompts, then n_held_out refuse prompts
  // The split in words, for the model card: held-out phrasings, help objects, harmful pairs.
  std::vector<std::string> held_out_phrasings, held_out_help_tasks, held_out_harmful_tasks;
};

// Same options (seed included) -> the same corpus, on every platform (std::mt19937_64 and
// integer arithmetic only; no std:: distributions, whose output is implementation-defined).
Corpus make_corpus(const CorpusOptions& options);

std::string chat_prompt(const std::string& request);  // "User: {request}\nAssistant:"

}  // namespace rig::train
