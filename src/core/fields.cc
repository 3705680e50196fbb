#include "core/fields.h"

#include <limits>

#include <nlohmann/json.hpp>

namespace rig {
namespace {

enum class Kind { kNone, kInt, kFloat, kBool, kText, kBigInt };

Kind kind(const nlohmann::json* v) {
  if (!v || v->is_null()) return Kind::kNone;
  if (v->is_boolean()) return Kind::kBool;
  if (v->is_number_float()) return Kind::kFloat;
  if (v->is_number_unsigned())
    return v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()) ? Kind::kBigInt : Kind::kInt;
  if (v->is_number_integer()) return Kind::kInt;
  return Kind::kText;  // string, object, array (binary cannot come from text)
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInt: return "an integer";
    case Kind::kFloat: return "a float";
    case Kind::kBool: return "a boolean";
    case Kind::kText: return "text (a string, object or array)";
    default: return "nothing";
  }
}

}  // namespace

const char* field_type_name(FieldType t) {
  switch (t) {
    case FieldType::kString: return "string";
    case FieldType::kInt: return "int";
    case FieldType::kFloat: return "float";
    case FieldType::kBool: return "bool";
  }
  return "?";
}

std::string field_text(const FieldValue& v) {
  switch (field_type(v)) {
    case FieldType::kString: return std::get<std::string>(v);
    case FieldType::kInt: return std::to_string(std::get<int64_t>(v));
    case FieldType::kFloat: return nlohmann::json(std::get<double>(v)).dump();
    case FieldType::kBool: return std::get<bool>(v) ? "true" : "false";
  }
  return "";
}

FieldTyping infer_field_type(const std::vector<const nlohmann::json*>& values) {
  FieldTyping out;
  Kind first = Kind::kNone;
  std::ptrdiff_t first_at = -1, missing_at = -1;
  bool any_float = false;
  for (size_t i = 0; i < values.size(); ++i) {
    const Kind k = kind(values[i]);
    const auto at = std::ptrdiff_t(i);
    if (k == Kind::kBigInt) {
      out.bad = at;
      out.why = "an integer beyond int64's range (" + values[i]->dump() + "); write it as a string or a float";
      return out;
    }
    if (k == Kind::kNone) {
      if (missing_at < 0) missing_at = at;
      continue;
    }
    any_float |= k == Kind::kFloat;
    if (first == Kind::kNone) {
      first = k, first_at = at;
      continue;
    }
    const bool numbers = (first == Kind::kInt || first == Kind::kFloat) && (k == Kind::kInt || k == Kind::kFloat);
    if (k != first && !numbers) {
      out.bad = at;
      out.why = std::string("expected ") + kind_name(first) + " as in the first stimulus that has the field (" +
                std::to_string(first_at) + "), got " + kind_name(k) + " (" + values[i]->dump() + ")";
      return out;
    }
  }
  switch (first) {
    case Kind::kInt: out.type = any_float ? FieldType::kFloat : FieldType::kInt; break;
    case Kind::kFloat: out.type = FieldType::kFloat; break;
    case Kind::kBool: out.type = FieldType::kBool; break;
    default: out.type = FieldType::kString; break;
  }
  if (missing_at >= 0 && out.type == FieldType::kInt) out.type = FieldType::kFloat;  // NaN: missing
  if (missing_at >= 0 && out.type == FieldType::kBool) {
    out.bad = missing_at;
    out.why =
        "expected true or false (the field is a boolean in other stimuli, and no uint8 can mean "
        "missing), got none; give it in every stimulus";
  }
  return out;
}

FieldValue to_field(const nlohmann::json* v, FieldType t) {
  const bool none = !v || v->is_null();
  switch (t) {
    case FieldType::kInt: return none ? int64_t(0) : v->get<int64_t>();
    case FieldType::kFloat: return none ? std::numeric_limits<double>::quiet_NaN() : v->get<double>();
    case FieldType::kBool: return none ? false : v->get<bool>();
    case FieldType::kString: break;
  }
  if (none) return std::string();
  return v->is_string() ? v->get<std::string>() : v->dump();
}

}  // namespace rig
