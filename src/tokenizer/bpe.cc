#include "tokenizer/bpe.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "core/limits.h"
#include "tokenizer/utf8.h"

namespace rig::tok {

Bpe::Bpe(const Json& model, const JsonCtx& ctx) {
  if (ctx.optional(model, "dropout") && !ctx.require(model, "dropout").is_null()) {
    const Json& d = ctx.require(model, "dropout");
    if (!d.is_number() || d.get<double>() != 0.0)
      (ctx / "dropout").fail("BPE dropout is not supported (encoding would be random)");
  }
  const Json& vocab = ctx.require(model, "vocab");
  if (!vocab.is_object()) (ctx / "vocab").fail("expected an object of token -> id");
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      (ctx / "vocab" / it.key()).fail("expected a non-negative integer id");
    // The id table is sized by the largest id: an id of 10^8 would allocate gigabytes.
    if (it.value().get<int64_t>() >= limits::kMaxVocab)
      (ctx / "vocab" / it.key())
          .fail("expected an id below " + std::to_string(limits::kMaxVocab) + " (rig's limit), got " +
                std::to_string(it.value().get<int64_t>()));
    max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  }
  id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  has_id_.assign(static_cast<size_t>(max_id + 1), false);
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int32_t id = static_cast<int32_t>(it.value().get<int64_t>());
    vocab_.emplace(it.key(), id);
    id_to_token_[id] = it.key();
    has_id_[id] = true;
  }

  if (auto p = ctx.opt_str(model, "continuing_subword_prefix")) prefix_ = *p;
  if (auto s = ctx.opt_str(model, "end_of_word_suffix")) suffix_ = *s;
  fuse_unk_ = ctx.boolean(model, "fuse_unk", false);
  byte_fallback_ = ctx.boolean(model, "byte_fallback", false);
  ignore_merges_ = ctx.boolean(model, "ignore_merges", false);
  if (auto unk = ctx.opt_str(model, "unk_token")) {
    auto it = vocab_.find(*unk);
    if (it == vocab_.end()) (ctx / "unk_token").fail("'" + *unk + "' is not in the vocabulary");
    unk_id_ = it->second;
  }
  if (byte_fallback_) {
    byte_ids_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      if (auto it = vocab_.find(name); it != vocab_.end()) byte_ids_[b] = it->second;
    }
  }

  const Json& merges = ctx.array(model, "merges");
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const Json& m = merges[r];
    std::string a, b;
    if (m.is_string()) {  // "a b"
      const std::string& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) (ctx / "merges")[r].fail("expected \"left right\", found \"" + s + "\"");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"]
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      (ctx / "merges")[r].fail("expected \"left right\" or [\"left\", \"right\"]");
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end()) (ctx / "merges")[r].fail("token '" + a + "' is not in the vocabulary");
    if (ib == vocab_.end()) (ctx / "merges")[r].fail("token '" + b + "' is not in the vocabulary");
    std::string merged =
        a + (!prefix_.empty() && b.compare(0, prefix_.size(), prefix_) == 0 ? b.substr(prefix_.size()) : b);
    auto im = vocab_.find(merged);
    if (im == vocab_.end()) (ctx / "merges")[r].fail("merged token '" + merged + "' is not in the vocabulary");
    uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
    merges_.emplace(key, MergeTarget{static_cast<int32_t>(r), im->second});  // first rank wins
  }
}

std::optional<int64_t> Bpe::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(id_to_token_.size()) || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

size_t Bpe::cache_size() const {
  std::shared_lock lock(cache_mutex_);
  return cache_.size();
}

void Bpe::tokenize(const std::string& word, std::vector<int64_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> out;
  merge_word(word, out);
  ids.insert(ids.end(), out.begin(), out.end());
  if (word.size() > kCacheMaxWord) return;
  std::unique_lock lock(cache_mutex_);
  if (cache_.size() < kCacheCapacity) cache_.emplace(word, std::move(out));
}

// As HF's Word::merge_all: repeatedly merge the adjacent pair of lowest rank (leftmost first).
void Bpe::merge_word(const std::string& word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
    bool alive;
  };
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  auto add = [&](int32_t id) {
    int32_t n = static_cast<int32_t>(sym.size());
    sym.push_back({id, n - 1, -1, true});
    if (n > 0) sym[n - 1].next = n;
  };

  // Characters to initial symbols (unknown ones: byte fallback, else unk, fused if asked).
  int32_t pending_unk = -1;  // an unk not yet added (fuse_unk extends it)
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    size_t len = utf8_char_len(static_cast<unsigned char>(word[i]));
    piece.assign(word, i, len);
    bool first = i == 0, last = i + len >= word.size();
    if (!first && !prefix_.empty()) piece.insert(0, prefix_);
    if (last && !suffix_.empty()) piece += suffix_;
    i += len;
    if (auto it = vocab_.find(piece); it != vocab_.end()) {
      if (pending_unk >= 0) {
        add(pending_unk);
        pending_unk = -1;
      }
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (size_t k = i - len; k < i; ++k) all = all && byte_ids_[static_cast<unsigned char>(word[k])] >= 0;
      if (all) {  // (HF leaves a pending unk in place here, so do we)
        for (size_t k = i - len; k < i; ++k) add(byte_ids_[static_cast<unsigned char>(word[k])]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) add(pending_unk);
      pending_unk = *unk_id_;
    }
    // without an unk token HF drops the character; so do we
  }
  if (pending_unk >= 0) add(pending_unk);

  struct Cand {
    int32_t rank, pos, new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  auto lookup = [&](int32_t a, int32_t b) -> const MergeTarget* {
    auto it = merges_.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  for (size_t i = 0; i + 1 < sym.size(); ++i)
    if (const MergeTarget* m = lookup(sym[i].id, sym[i + 1].id))
      queue.push({m->rank, static_cast<int32_t>(i), m->new_id});

  while (!queue.empty()) {
    Cand top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[left.next];
    const MergeTarget* m = lookup(left.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (left.prev >= 0)
      if (const MergeTarget* p = lookup(sym[left.prev].id, left.id)) queue.push({p->rank, left.prev, p->new_id});
    if (left.next >= 0)
      if (const MergeTarget* n = lookup(left.id, sym[left.next].id)) queue.push({n->rank, top.pos, n->new_id});
  }
  for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace rig::tok
