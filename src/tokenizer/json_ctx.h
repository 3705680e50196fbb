#pragma once
// Reading tokenizer.json with errors that name the file and the JSON key path, e.g.
//   "models/x/tokenizer.json: key 'pre_tokenizer.pretokenizers[1].type': unsupported
//    pre-tokenizer 'Digits' (supported: ByteLevel, Metaspace, Split, Sequence)".
// Internal to src/tokenizer.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace rig::tok {

using Json = nlohmann::json;

class JsonCtx {
 public:
  JsonCtx(std::string file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }

  JsonCtx operator/(const std::string& key) const { return JsonCtx(file_, path_.empty() ? key : path_ + "." + key); }
  JsonCtx operator[](size_t i) const { return JsonCtx(file_, path_ + "[" + std::to_string(i) + "]"); }

  [[noreturn]] void fail(const std::string& msg) const {
    throw ModelError(file_ + ": " + (path_.empty() ? std::string() : "key '" + path_ + "': ") + msg);
  }

  // `obj` (the value at this path) must be an object holding `key`.
  const Json& require(const Json& obj, const std::string& key) const {
    if (!obj.is_object()) fail("expected a JSON object, found " + std::string(obj.type_name()));
    auto it = obj.find(key);
    if (it == obj.end()) (*this / key).fail("missing");
    return *it;
  }
  // The value of `key`, or nullptr when it is absent or null.
  const Json* optional(const Json& obj, const std::string& key) const {
    if (!obj.is_object()) fail("expected a JSON object, found " + std::string(obj.type_name()));
    auto it = obj.find(key);
    return (it == obj.end() || it->is_null()) ? nullptr : &*it;
  }
  std::string str(const Json& obj, const std::string& key) const {
    const Json& v = require(obj, key);
    if (!v.is_string()) (*this / key).fail("expected a string, found " + std::string(v.type_name()));
    return v.get<std::string>();
  }
  std::optional<std::string> opt_str(const Json& obj, const std::string& key) const {
    const Json* v = optional(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) (*this / key).fail("expected a string, found " + std::string(v->type_name()));
    return v->get<std::string>();
  }
  bool boolean(const Json& obj, const std::string& key, bool fallback) const {
    const Json* v = optional(obj, key);
    if (!v) return fallback;
    if (!v->is_boolean()) (*this / key).fail("expected true or false, found " + std::string(v->type_name()));
    return v->get<bool>();
  }
  int64_t integer(const Json& obj, const std::string& key) const {
    const Json& v = require(obj, key);
    if (!v.is_number_integer()) (*this / key).fail("expected an integer, found " + std::string(v.type_name()));
    return v.get<int64_t>();
  }
  const Json& array(const Json& obj, const std::string& key) const {
    const Json& v = require(obj, key);
    if (!v.is_array()) (*this / key).fail("expected an array, found " + std::string(v.type_name()));
    return v;
  }

 private:
  std::string file_;
  std::string path_;
};

}  // namespace rig::tok
