#pragma once
// The config schema engine: one decoder for every section users write (the experiment config,
// its `stimulation:` entries, `analysis:`). Each struct lists its fields once, in a
// `template <class V> void fields(V& v, S& s)` function; the same list drives
//   Decoder  types, ranges, required, unknown and duplicate keys ("did you mean"), with
//            messages "FILE:LINE:COL: KEY.PATH: expected ..., got ..." (ConfigSource::where);
//   Printer  the struct back to YAML (resolved config, config hash).
// A field is `v("key", member, RULE[, flags])`: IntRule, NumRule, StrRule, EnumRule<E>, a
// Codec<T> for its own YAML shape, or none for bool; `v.section`/`v.list` for nested
// mappings; `v.validate([&](Decoder& d) {...})` for checks across fields (decoding only).
// Key paths are vectors of components ("stimuli", "0", "prompts").
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "core/regex.h"
#include "experiment/config.h"

namespace rig::cfg {

using KeyPath = std::vector<std::string>;

inline KeyPath child(KeyPath p, const std::string& key) {
  p.push_back(key);
  return p;
}

std::string join(const KeyPath& p);

// What a node holds, for "got ..." in messages: -3, 'abc', nothing, a mapping, a sequence.
std::string describe(const YAML::Node& n);

// Throws ConfigError "<where>: <what>".
[[noreturn]] void fail(const ConfigSource& src, const YAML::Node& n, const KeyPath& p, const std::string& what);

// Strict scalar parsing (whole text, no YAML 1.1 extras).
bool parse_int(const std::string& s, int64_t& out);
bool parse_double(const std::string& s, double& out);
bool parse_bool(const std::string& s, bool& out);

// The known name closest to `key`, or "" when none is close.
std::string closest(const std::string& key, const std::vector<std::string>& known);

// Shortest text that reads back as v, always with a '.' or exponent ("1.0", "1e-12").
std::string format_double(double v);

// ---------------------------------------------------------------------------------------
// Field rules: what a scalar must be, phrased for "expected ..." in messages.

enum Flags { kRequired = 1, kNoHash = 2 };

struct IntRule {
  int64_t lo, hi;
  std::string expect;
};
inline IntRule int_at_least(int64_t lo) { return {lo, INT64_MAX, "an integer >= " + std::to_string(lo)}; }
inline IntRule int_between(int64_t lo, int64_t hi) {
  return {lo, hi, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi)};
}

struct NumRule {
  double lo, hi;
  bool lo_open;
  std::string expect;
  bool hi_open = false;
};
inline NumRule num_any() {
  return {-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), false, "a number"};
}
inline NumRule num_at_least(double lo) {
  return {lo, std::numeric_limits<double>::infinity(), false, "a number >= " + format_double(lo)};
}
inline NumRule num_between(double lo, double hi) {
  return {lo, hi, false, "a number from " + format_double(lo) + " to " + format_double(hi)};
}
// Both ends excluded (a probability threshold).
inline NumRule num_inside(double lo, double hi) {
  return {lo, hi, true, "a number > " + format_double(lo) + " and < " + format_double(hi), true};
}

struct StrRule {
  std::string expect;
  std::function<bool(const std::string&)> ok;
};
inline StrRule text() {
  return {"a non-empty string", [](const std::string& s) { return !s.empty(); }};
}
inline StrRule one_of(std::vector<std::string> names) {
  std::string expect = "one of ";
  for (size_t i = 0; i < names.size(); ++i) expect += (i ? " | " : "") + names[i];
  return {expect, [names](const std::string& s) { return std::find(names.begin(), names.end(), s) != names.end(); }};
}
inline StrRule matching(const char* re, std::string expect) {
  auto rx = std::make_shared<SafeRegex>(re);
  return {std::move(expect), [rx](const std::string& s) { return rx->full_match(s); }};
}

template <class E>
struct EnumRule {
  std::vector<std::pair<std::string, E>> names;
  std::string expect() const {
    std::string s = "one of ";
    for (size_t i = 0; i < names.size(); ++i) s += (i ? " | " : "") + names[i].first;
    return s;
  }
  const std::string& name(E e) const {
    for (const auto& [n, v] : names)
      if (v == e) return n;
    return names.front().first;
  }
  // The value a scalar names (for codecs whose YAML is a name or a mapping).
  E decode(const ConfigSource& src, const YAML::Node& n, const KeyPath& p) const {
    if (n.IsScalar())
      for (const auto& [nm, e] : names)
        if (nm == n.Scalar()) return e;
    fail(src, n, p, "expected " + expect() + ", got " + describe(n));
  }
};

class Decoder;
// A field with its own YAML shape (lists, ranges, "gzip:N").
template <class T>
struct Codec {
  std::function<T(const Decoder&, const YAML::Node&, const KeyPath&)> decode;
  std::function<YAML::Node(const T&)> encode;  // Null = omit
};

// ---------------------------------------------------------------------------------------
// Decoder: one mapping of the config. Every field the list names is "known"; finish()
// rejects the rest.

class Decoder {
 public:
  Decoder(const ConfigSource& src, const YAML::Node& node, KeyPath path, const std::string& what)
      : src_(src), node_(node), path_(std::move(path)) {
    if (!node.IsMap()) fail(src_, node_, path_, "expected " + what + ", got " + describe(node));
    std::map<std::string, YAML::Node> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) fail(src_, kv.first, path_, "expected string keys, got " + describe(kv.first));
      const std::string& k = kv.first.Scalar();
      if (auto s = seen.find(k); s != seen.end())
        fail(src_, kv.first, child(path_, k),
             "duplicate key (first at line " + std::to_string(s->second.Mark().line + 1) + ")");
      seen.emplace(k, kv.first);
    }
  }

  const ConfigSource& source() const { return src_; }
  const KeyPath& path() const { return path_; }
  bool has(const std::string& key) const { return get(key).IsDefined(); }
  YAML::Node get(const std::string& key) const {
    const YAML::Node& c = node_;
    return c[key];
  }
  // Fails at the key's value (or at this mapping where the key is absent).
  [[noreturn]] void fail_at(const std::string& key, const std::string& what) const {
    YAML::Node n = get(key);
    fail(src_, n.IsDefined() ? n : node_, child(path_, key), what);
  }
  [[noreturn]] void fail_here(const std::string& what) const { fail(src_, node_, path_, what); }
  std::string where(const std::string& key) const {
    YAML::Node n = get(key);
    return src_.where(n.IsDefined() ? n : node_, key.empty() ? path_ : child(path_, key));
  }

  void operator()(const char* key, int64_t& v, const IntRule& r, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    int64_t x = 0;
    if (!n.IsScalar() || !parse_int(n.Scalar(), x) || x < r.lo || x > r.hi)
      fail_at(key, "expected " + r.expect + ", got " + describe(n));
    v = x;
  }
  void operator()(const char* key, uint64_t& v, const IntRule& r, int flags = 0) {
    int64_t x = int64_t(v);
    (*this)(key, x, r, flags);
    v = uint64_t(x);
  }
  void operator()(const char* key, double& v, const NumRule& r, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    double x = 0;
    if (!n.IsScalar() || !parse_double(n.Scalar(), x) || x < r.lo || x > r.hi || (r.lo_open && x == r.lo) ||
        (r.hi_open && x == r.hi))
      fail_at(key, "expected " + r.expect + ", got " + describe(n));
    v = x;
  }
  void operator()(const char* key, bool& v, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    if (!n.IsScalar() || !parse_bool(n.Scalar(), v)) fail_at(key, "expected true or false, got " + describe(n));
  }
  void operator()(const char* key, std::string& v, const StrRule& r, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    if (!n.IsScalar() || !r.ok(n.Scalar())) fail_at(key, "expected " + r.expect + ", got " + describe(n));
    v = n.Scalar();
  }
  template <class E>
  void operator()(const char* key, E& v, const EnumRule<E>& r, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    v = r.decode(src_, n, child(path_, key));
  }
  template <class T>
  void operator()(const char* key, T& v, const Codec<T>& c, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    v = c.decode(*this, n, child(path_, key));
  }
  template <class T>
  void section(const char* key, T& v, const char* what, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    Decoder d(src_, n, child(path_, key), what);
    fields(d, v);
    d.finish();
  }
  template <class T>
  void list(const char* key, std::vector<T>& v, const char* what, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    KeyPath p = child(path_, key);
    if (!n.IsSequence()) fail(src_, n, p, std::string("expected a sequence of ") + what + ", got " + describe(n));
    v.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      Decoder d(src_, n[i], child(p, std::to_string(i)), what);
      T item;
      fields(d, item);
      d.finish();
      v.push_back(std::move(item));
    }
  }
  void raw(const char* key, YAML::Node& v, YAML::NodeType::value type, int flags = 0) {
    YAML::Node n = take(key, flags);
    if (!n.IsDefined()) return;
    if (n.Type() != type)
      fail_at(key, std::string("expected ") + (type == YAML::NodeType::Map ? "a mapping" : "a sequence") + ", got " +
                       describe(n));
    v = n;
  }
  void origin(ConfigOrigin& o) { o.prefix = src_.where(node_, path_); }
  void origin_of(const char* key, ConfigOrigin& o) { o.prefix = where(key); }
  // Cross-field checks, once the fields are decoded (and the required ones present).
  template <class F>
  void validate(F&& check) {
    check_missing();
    check(*this);
  }

  void finish() const {
    for (const auto& kv : node_) {
      const std::string& k = kv.first.Scalar();
      if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
      unknown(kv.first, closest(k, known_));
    }
    check_missing();
  }

 private:
  // The key's value (possibly not IsDefined(): absent, default kept); records the key as known.
  YAML::Node take(const char* key, int flags) {
    known_.push_back(key);
    YAML::Node n = get(key);
    if (!n.IsDefined() && (flags & kRequired)) missing_.push_back(key);
    return n;
  }
  [[noreturn]] void unknown(const YAML::Node& key, const std::string& close) const {
    std::string msg = "unknown key";
    if (!close.empty()) msg += "; did you mean '" + close + "'?";
    fail(src_, key, child(path_, key.Scalar()), msg + " (known keys: " + join_names() + ")");
  }
  // A required key that is absent: a misspelling of it is reported as such ("windw: unknown
  // key; did you mean 'window'?"), else the key as missing.
  void check_missing() const {
    if (missing_.empty()) return;
    for (const auto& kv : node_) {
      const std::string& k = kv.first.Scalar();
      if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
      for (const auto& m : missing_)
        if (closest(k, {m}) == m) unknown(kv.first, m);
    }
    fail(src_, node_, child(path_, missing_.front()), "missing required key");
  }
  std::string join_names() const {
    std::string s;
    for (const auto& k : known_) s += (s.empty() ? "" : ", ") + k;
    return s;
  }

  const ConfigSource& src_;
  YAML::Node node_;
  KeyPath path_;
  std::vector<std::string> known_;
  std::vector<std::string> missing_;  // required keys not given
};

// ---------------------------------------------------------------------------------------
// Printer: the same field lists, back to YAML (defaults included; empty optional values
// omitted). With for_hash, fields flagged kNoHash are left out.

class Printer {
 public:
  explicit Printer(bool for_hash) : for_hash_(for_hash), out(YAML::NodeType::Map) {}

  void operator()(const char* key, const int64_t& v, const IntRule&, int flags = 0) {
    if (!skip(flags)) out[key] = v;
  }
  void operator()(const char* key, const uint64_t& v, const IntRule&, int flags = 0) {
    if (!skip(flags)) out[key] = v;
  }
  void operator()(const char* key, const double& v, const NumRule&, int flags = 0) {
    if (!skip(flags)) out[key] = format_double(v);
  }
  void operator()(const char* key, const bool& v, int flags = 0) {
    if (!skip(flags)) out[key] = v;
  }
  void operator()(const char* key, const std::string& v, const StrRule&, int flags = 0) {
    if (!skip(flags) && !v.empty()) out[key] = v;
  }
  template <class E>
  void operator()(const char* key, const E& v, const EnumRule<E>& r, int flags = 0) {
    if (!skip(flags)) out[key] = r.name(v);
  }
  template <class T>
  void operator()(const char* key, const T& v, const Codec<T>& c, int flags = 0) {
    if (skip(flags)) return;
    YAML::Node n = c.encode(v);
    if (n.IsDefined() && !n.IsNull()) out[key] = n;
  }
  template <class T>
  void section(const char* key, T& v, const char*, int flags = 0) {
    if (skip(flags)) return;
    Printer p(for_hash_);
    fields(p, v);
    out[key] = p.out;
  }
  template <class T>
  void list(const char* key, std::vector<T>& v, const char*, int flags = 0) {
    if (skip(flags)) return;
    YAML::Node seq(YAML::NodeType::Sequence);
    for (auto& item : v) {
      Printer p(for_hash_);
      fields(p, item);
      seq.push_back(p.out);
    }
    out[key] = seq;
  }
  void raw(const char* key, const YAML::Node& v, YAML::NodeType::value, int flags = 0) {
    if (!skip(flags) && v.IsDefined() && !v.IsNull()) out[key] = YAML::Clone(v);
  }
  void origin(const ConfigOrigin&) {}
  void origin_of(const char*, const ConfigOrigin&) {}
  template <class F>
  void validate(F&&) {}

 private:
  bool skip(int flags) const { return for_hash_ && (flags & kNoHash); }
  bool for_hash_;

 public:
  YAML::Node out;
};

// The electrodes' site selector (site, side, neurons, sae; config.cc), also decoded inside
// other mappings (a `stimulation:` entry): instantiated there for Decoder.
template <class V>
void fields(V& v, ElectrodeSelector& e);

}  // namespace rig::cfg
