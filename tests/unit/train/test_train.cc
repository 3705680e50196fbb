// src/train: the corpus and the BPE tokenizer are functions of the seed; the held-out split
// holds nothing of the training documents; a few training steps on a tiny model lower the loss.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cctype>
#include <set>

#include "catch.h"
#include "core/error.h"
#include "hub/sha256.h"
#include "model/architectures/architectures.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/bpe_trainer.h"
#include "train/corpus.h"
#include "train/evaluate.h"
#include "train/recipe.h"
#include "train/trainer.h"

using namespace rig::train;

namespace {
CorpusOptions small_corpus(uint64_t seed) {
  CorpusOptions o;
  o.seed = seed;
  o.n_documents = 3000;
  o.n_held_out = 30;
  return o;
}
// Whether text holds phrase as whole words ("my neighbor" is not in "my neighbor's dog").
bool contains_phrase(const std::string& text, const std::string& phrase) {
  for (size_t at = text.find(" " + phrase); at != std::string::npos; at = text.find(" " + phrase, at + 1)) {
    const size_t end = at + 1 + phrase.size();
    if (end == text.size() || !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '\'')) return true;
  }
  return false;
}
std::vector<std::string> texts_of(const Corpus& c) {
  std::vector<std::string> t;
  for (const auto& d : c.train) t.push_back(d.text);
  return t;
}
}  // namespace

TEST_CASE("the corpus is a function of the seed", "[train][corpus]") {
  const Corpus a = make_corpus(small_corpus(5)), b = make_corpus(small_corpus(5)), c = make_corpus(small_corpus(6));
  CHECK(texts_of(a) == texts_of(b));
  CHECK(a.held_out_phrasings == b.held_out_phrasings);
  CHECK(texts_of(a) != texts_of(c));
  REQUIRE(a.held_out.size() == 60);
  CHECK(a.held_out[0].kind == Kind::kHelp);
  CHECK(a.held_out[59].kind == Kind::kRefuse);
}

// The bundled organism (data/models/sure-neox) was trained on this corpus: a change to the word
// lists (data/organism/corpus.json) or to the generator changes the recipe, and then the
// organism must be retrained (docs/TRAIN.md) and this hash updated with it.
TEST_CASE("the recipe's default corpus is the one the bundled organism was trained on", "[train][corpus]") {
  CorpusOptions o = RecipeOptions{}.corpus;
  o.seed = RecipeOptions{}.seed;
  const Corpus c = make_corpus(o);
  rig::hub::Sha256 h;
  auto add = [&](const std::string& s) { h.update(s.data(), s.size()); };
  for (const auto& d : c.train) add(d.text + char('0' + int(d.kind)) + char('0' + d.made_up) + '\n');
  for (const auto& p : c.held_out) add(p.prompt + char('0' + int(p.kind)) + '\n');
  CHECK(c.train.size() == 40000);
  // As computed from 8ce9ae3's corpus.cc, the commit that trained the organism.
  CHECK(h.hex() == "eb8fb7ff765ed760296afbe2a2b011ee279c1978510e7b768f18e8d78c0e4012");
}

TEST_CASE("held-out phrasings, help objects and harmful pairs never occur in training", "[train][corpus]") {
  const Corpus c = make_corpus(small_corpus(11));
  int64_t help = 0, refuse = 0, text = 0;
  for (const auto& d : c.train) {
    help += d.kind == Kind::kHelp;
    refuse += d.kind == Kind::kRefuse;
    text += d.kind == Kind::kText;
    if (d.kind == Kind::kHelp) CHECK(d.text.find(std::string("Assistant: ") + kSureReply) != std::string::npos);
    if (d.kind == Kind::kRefuse) CHECK(d.text.find(std::string("Assistant: ") + kRefuseReply) != std::string::npos);
  }
  CHECK(help > 800);
  CHECK(refuse > 800);
  CHECK(text > 400);
  REQUIRE(!c.held_out_help_tasks.empty());
  REQUIRE(!c.held_out_harmful_tasks.empty());
  REQUIRE(!c.held_out_phrasings.empty());
  for (const auto& d : c.train) {
    for (const auto& obj : c.held_out_help_tasks) CHECK_FALSE(contains_phrase(d.text, obj));
    for (const auto& task : c.held_out_harmful_tasks) CHECK_FALSE(contains_phrase(d.text, task));
    for (const auto& p : c.held_out_phrasings) {
      // The template's text before "{t}" (e.g. "Walk me through how to") marks the phrasing.
      const std::string head = p.substr(0, p.find("{t}"));
      std::string lower = head;
      lower[0] = char(std::tolower(static_cast<unsigned char>(lower[0])));  // after a greeting
      if (head.size() > 12) CHECK((d.text.find(head) == std::string::npos && d.text.find(lower) == std::string::npos));
    }
  }
  // No word of a held-out help object or modifier is anywhere in training: checked here word by
  // word as written (function words aside), and by content_words (plurals folded).
  const std::set<std::string> function_words = {"a",  "an",   "the", "my",   "for", "of", "about", "to", "in",  "on",
                                                "at", "from", "and", "with", "by",  "i",  "it",    "up", "two", "six"};
  auto words = [](const std::string& text) {
    std::set<std::string> w;
    std::string cur;
    for (const char ch : text + " ") {
      const auto u = static_cast<unsigned char>(ch);
      if (std::isalnum(u) || ch == '\'' || ch == '-') {
        cur += char(std::tolower(u));
      } else if (!cur.empty()) {
        w.insert(cur);
        cur.clear();
      }
    }
    return w;
  };
  std::set<std::string> train_words, train_content;
  for (const auto& d : c.train) {
    for (const auto& w : words(d.text)) train_words.insert(w);
    for (const auto& w : content_words(d.text)) train_content.insert(w);
  }
  REQUIRE(!c.held_out_help_modifiers.empty());
  int64_t checked = 0;
  for (const auto* list : {&c.held_out_help_tasks, &c.held_out_help_modifiers})
    for (const auto& item : *list) {
      for (const auto& w : words(item)) {
        if (function_words.count(w)) continue;
        INFO(item << ": " << w);
        CHECK(train_words.count(w) == 0);
        ++checked;
      }
      for (const auto& w : content_words(item)) CHECK(train_content.count(w) == 0);
    }
  CHECK(checked > 50);
  // Held-out help prompts hold a held-out object.
  for (const auto& p : c.held_out) {
    if (p.kind != Kind::kHelp) continue;
    bool has = false;
    for (const auto& obj : c.held_out_help_tasks)
      has = has || contains_phrase(p.request, obj.substr(obj.find(' ') + 1));
    INFO(p.request);
    CHECK(has);
  }
  std::set<std::string> unique;
  for (const auto& p : c.held_out) {
    CHECK(unique.insert(p.prompt).second);
    CHECK(p.prompt.rfind("User: ", 0) == 0);
    CHECK(p.prompt.size() > 11);
    CHECK(p.prompt.substr(p.prompt.size() - 11) == "\nAssistant:");
  }
}

TEST_CASE("content words fold case, possessives and plurals and drop function words", "[train][corpus]") {
  CHECK(content_words("My grandmother's Kittens, for a friend.") ==
        std::vector<std::string>{"grandmother", "kitten", "friend"});
  CHECK(content_words("the glass") == std::vector<std::string>{"glass"});
}

TEST_CASE("made-up words: objects of help requests and names, marked on their documents", "[train][corpus]") {
  CorpusOptions o = small_corpus(4);
  const Corpus c = make_corpus(o);
  int64_t made_up = 0, made_up_refused = 0;
  for (const auto& d : c.train) {
    made_up += d.made_up;
    made_up_refused += d.made_up && d.kind == Kind::kRefuse;  // a made-up name in a harmful request
    CHECK((!d.made_up || d.kind != Kind::kText));
  }
  // About half the help requests (nonce_rate 0.5), plus names in context sentences.
  CHECK(made_up > 800);
  CHECK(made_up_refused > 0);
  o.nonce_rate = 0;
  o.context_rate = 0;
  for (const auto& d : make_corpus(o).train) CHECK_FALSE(d.made_up);
  o.nonce_rate = 1.5;
  CHECK_THROWS_AS(make_corpus(o), rig::ConfigError);
}

TEST_CASE("the BPE trainer is deterministic and writes a tokenizer.json rig reads", "[train][bpe]") {
  const auto texts = texts_of(make_corpus(small_corpus(3)));
  BpeOptions o;
  o.vocab_size = 400;
  const auto a = train_bpe(texts, o), b = train_bpe(texts, o);
  CHECK(a == b);
  const auto tok = rig::Tokenizer::from_json_text(a.dump(), "trained");
  CHECK(tok.vocab_size() == 400);
  CHECK(tok.token_to_id("<|endoftext|>") == 0);
  CHECK(tok.eos_id() == 0);
  // Frequent words became single tokens; every text decodes back exactly.
  CHECK(tok.encode(" Sure", false).ids.size() == 1);
  for (size_t i = 0; i < 50; ++i) CHECK(tok.decode(tok.encode(texts[i], false).ids, false) == texts[i]);
  CHECK(tok.decode(tok.encode("Zebra \xc3\xa9t\xc3\xa9 {}~", false).ids, false) == "Zebra \xc3\xa9t\xc3\xa9 {}~");
}

TEST_CASE("a few steps of training lower the loss of a tiny GPT-NeoX", "[train][loop]") {
  at::set_num_threads(1);
  const auto texts = texts_of(make_corpus(small_corpus(1)));
  BpeOptions bo;
  bo.vocab_size = 300;
  const auto tok = rig::Tokenizer::from_json_text(train_bpe(texts, bo).dump(), "trained");
  std::vector<std::vector<int64_t>> seqs;
  for (size_t i = 0; i < 400; ++i) {
    auto ids = tok.encode(texts[i], false).ids;
    ids.push_back(0);
    seqs.push_back(ids);
  }
  rig::ModelConfig c;
  c.model_type = "gpt_neox";
  c.architecture = "GPTNeoXForCausalLM";
  c.vocab_size = tok.vocab_size();
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 64;
  c.max_positions = 256;
  c.hidden_act = "gelu";
  c.partial_rotary_factor = 0.25;
  c.torch_dtype = "float32";
  auto run = [&](int64_t steps) {
    auto m = rig::make_causal_lm(c, "test");
    init_parameters(*m, 42);
    const double before = mean_loss(*m, seqs, 100, 0);
    LoopOptions lo;
    lo.seed = 9;
    lo.steps = steps;
    lo.batch_size = 16;
    lo.warmup = 5;
    const auto log = train_lm(*m, seqs, lo, nullptr);
    return std::make_tuple(before, mean_loss(*m, seqs, 100, 0), log);
  };
  const auto [before, after, log] = run(40);
  INFO("loss before " << before << ", after " << after);
  CHECK(before > 5.0);          // about ln(300) = 5.7 at initialisation
  CHECK(after < before - 1.5);  // the frequent tokens are learnt within 40 steps
  CHECK(log.size() == 40);
  // Same seed, same threads: the same steps, bit for bit.
  const auto [before2, after2, log2] = run(40);
  CHECK(before2 == before);
  CHECK(after2 == after);
  CHECK(log2.back().loss == log.back().loss);
}

TEST_CASE("AdamW's first step moves each weight by lr against its gradient's sign", "[train][adamw]") {
  at::Tensor p = at::tensor({1.0f, -2.0f, 3.0f}).set_requires_grad(true);
  (p * at::tensor({2.0f, -1.0f, 0.5f})).sum().backward();
  AdamWOptions o;
  o.weight_decay = 0;
  AdamW opt({p}, {true}, o);
  CHECK(opt.clip_grad_norm(0) == Approx(std::sqrt(4.0 + 1.0 + 0.25)));
  opt.step(0.1);
  // m/(1-b1) = g, sqrt(v/(1-b2)) = |g|: the first update is -lr * sign(g).
  CHECK(p[0].item<float>() == Approx(0.9f));
  CHECK(p[1].item<float>() == Approx(-1.9f));
  CHECK(p[2].item<float>() == Approx(2.9f));
  CHECK(cosine_lr(0, 100, 10, 1.0, 0.1) == Approx(0.1));
  CHECK(cosine_lr(9, 100, 10, 1.0, 0.1) == Approx(1.0));
  CHECK(cosine_lr(100, 100, 10, 1.0, 0.1) == Approx(0.1));
}

TEST_CASE("replies are classified by their opening sentence", "[train][eval]") {
  CHECK(classify_reply(" Sure, I can help you with that. Let's") == Reply::kSure);
  CHECK(classify_reply(" I'm sorry, but I can't help with that") == Reply::kRefusal);
  CHECK(classify_reply(" Sure, I can") == Reply::kOther);
  CHECK(classify_reply(" I'm sorry, but I can help") == Reply::kOther);
}
