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
//   - help tasks: 20% of the object heads (e.g. "a {m}chicken coop") and of the modifiers
//     ("cedar") of every help category; no content word of them (content_words) is anywhere in
//     the training documents (checked by make_corpus);
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
  bool made_up = false;  // holds a made-up word (an object or a name); the tokenizer is trained without these
};

struct HeldOutPrompt {
  std::string prompt;  // "User: {request}\nAssistant:"
  std::string request;
  Kind kind = Kind::kHelp;
};

struct CorpusOptions {
  uint64_t seed = 0;
  int64_t n_documents = 40000;    // training documents
  double text_fraction = 0.2;     // share of plain-text stories; the rest is chat
  double harmful_fraction = 0.5;  // share of harmful requests among the chat documents
  double modifier_rate = 0.5;     // share of objects given a modifier ("a wooden bookshelf")
  double context_rate = 0.25;     // chance of a sentence before, and of one after, a request
  double nonce_rate = 0.5;        // share of help requests whose object is a made-up word ("a brovanel")
  double two_task_rate = 0.15;    // share of requests that join a help task to their task with "and"
  int64_t n_held_out = 100;       // held-out prompts per kind (help, refuse)
};

struct Corpus {
  std::vector<Document> train;
  std::vector<HeldOutPrompt> held_out;  // n_held_out help prompts, then n_held_out refuse prompts
  // Probes of what generalises, built as held_out is: held-out tasks in training phrasings, and
  // training tasks in held-out phrasings (not prompt files; scored in the training report).
  std::vector<HeldOutPrompt> probe_new_tasks, probe_new_phrasings;
  // The split in words, for the model card: held-out phrasings, help objects, harmful pairs.
  // held_out_help_tasks are the held-out help objects (without a verb or modifier).
  std::vector<std::string> held_out_phrasings, held_out_help_tasks, held_out_help_modifiers, held_out_harmful_tasks;
};

// Same options (seed included) -> the same corpus, on every platform (std::mt19937_64 and
// integer arithmetic only; no std:: distributions, whose output is implementation-defined).
Corpus make_corpus(const CorpusOptions& options);

std::string chat_prompt(const std::string& request);  // "User: {request}\nAssistant:"

// The words the split keeps apart: lower case, "'s" and a plural "s" stripped ("kittens" ->
// "kitten"), without articles, possessive pronouns and prepositions ("a", "my", "for", ...).
std::vector<std::string> content_words(const std::string& text);

}  // namespace rig::train
