// The config schema engine's helpers (schema.h): messages, strict scalars, "did you mean".
#include "experiment/schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace rig::cfg {

std::string join(const KeyPath& p) {
  std::string s;
  for (const auto& c : p) s += (s.empty() ? "" : ".") + c;
  return s;
}

static bool looks_numeric(const std::string& s) {
  int64_t i;
  double d;
  return parse_int(s, i) || parse_double(s, d);
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsSequence()) return n.size() ? "a sequence" : "an empty sequence";
  if (n.IsMap()) return n.size() ? "a mapping" : "an empty mapping";
  const std::string& s = n.Scalar();
  if (looks_numeric(s)) return s;
  std::string shown = s.size() > 60 ? s.substr(0, 57) + "..." : s;
  return "'" + shown + "'";
}

void fail(const ConfigSource& src, const YAML::Node& n, const KeyPath& p, const std::string& what) {
  throw ConfigError(src.where(n, p) + ": " + what);
}

bool parse_int(const std::string& s, int64_t& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e;
}

bool parse_double(const std::string& s, double& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e && std::isfinite(out);
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "True" || s == "TRUE") return out = true, true;
  if (s == "false" || s == "False" || s == "FALSE") return out = false, true;
  return false;
}

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;
  for (const auto& k : known) {
    size_t d = edit_distance(key, k);
    if (d < best_d) best = k, best_d = d;
  }
  if (best.empty())
    for (const auto& k : known)
      if (key.size() >= 3 && (k.find(key) != std::string::npos || key.find(k) != std::string::npos)) return k;
  return best;
}

std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace rig::cfg
