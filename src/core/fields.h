#pragma once
// Extra stimulus fields (JSONL keys beside "prompt", template vars) as typed columns of
// /stimuli and /trials: the value type, and the inference of a field's type across stimuli
// (docs/CONFIG.md, "Extra fields").
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace rig {

// A field's value, typed as its column: every stimulus holds the same alternative for a field.
// Text: a JSON string, a nested JSON object or array (as JSON text), a template var.
using FieldValue = std::variant<std::string, int64_t, double, bool>;
enum class FieldType { kString, kInt, kFloat, kBool };  // FieldValue::index() order
inline FieldType field_type(const FieldValue& v) { return FieldType(v.index()); }
const char* field_type_name(FieldType t);  // "string" | "int" | "float" | "bool"
// The value as text: strings as they are, numbers as JSON writes them (shortest round-trip),
// bools true/false. Analysis names group_by conditions with it.
std::string field_text(const FieldValue& v);

// The type of one field across stimuli, or the first stimulus that does not fit.
struct FieldTyping {
  FieldType type = FieldType::kString;
  std::ptrdiff_t bad = -1;  // index into the values of the offending stimulus; -1: none
  std::string why;          // what is wrong with it, for a config error
};
// values[i]: stimulus i's JSON value of the field; nullptr or JSON null: it has none.
// int where every stimulus has an integer (int64), float where the numbers include a float or
// some stimuli lack the field (NaN: missing, as pandas does), bool where all are booleans
// (every stimulus must have it: no uint8 can mean missing), string where all are strings,
// objects or arrays (missing: ""). Mixing kinds (a number and a string, a bool and a number)
// is an error at the first value of another kind than the first value's.
FieldTyping infer_field_type(const std::vector<const nlohmann::json*>& values);
// v as a value of a column of type t (which infer_field_type gave); nullptr or null: the fill.
FieldValue to_field(const nlohmann::json* v, FieldType t);

}  // namespace rig
