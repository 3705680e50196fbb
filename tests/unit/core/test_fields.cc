// Typing extra stimulus fields across stimuli (core/fields.h): what /stimuli and /trials
// store for each JSONL value.
#include <cmath>

#include <nlohmann/json.hpp>

#include "catch.h"
#include "core/fields.h"

using namespace rig;
using nlohmann::json;

namespace {
// The typing of values given as JSON text; "-" = the stimulus lacks the field.
FieldTyping type_of(const std::vector<std::string>& texts, std::vector<json>* keep = nullptr) {
  std::vector<json> local;
  std::vector<json>& vals = keep ? *keep : local;
  vals.clear();
  for (const auto& t : texts) vals.push_back(t == "-" ? json() : json::parse(t));
  std::vector<const json*> p;
  for (size_t i = 0; i < texts.size(); ++i) p.push_back(texts[i] == "-" ? nullptr : &vals[i]);
  return infer_field_type(p);
}
}  // namespace

TEST_CASE("field typing: int, float, bool, string") {
  CHECK(type_of({"1", "-2", "3"}).type == FieldType::kInt);
  CHECK(type_of({"1", "2.5"}).type == FieldType::kFloat);  // any float: float
  CHECK(type_of({"1e3", "4"}).type == FieldType::kFloat);
  CHECK(type_of({"true", "false"}).type == FieldType::kBool);
  CHECK(type_of({"\"a\"", "\"b\""}).type == FieldType::kString);
  CHECK(type_of({"{\"k\": 1}", "[1, 2]", "\"x\""}).type == FieldType::kString);  // nested: JSON text
  CHECK(type_of({"null", "-"}).type == FieldType::kString);                      // nothing at all: text, ""
  for (const auto& ok : {type_of({"1", "2"}), type_of({"true"}), type_of({"\"a\"", "-"})}) CHECK(ok.bad == -1);
}

TEST_CASE("field typing: missing values fill text and float, turn int into float, fail bool") {
  const FieldTyping i = type_of({"1", "-", "3"});
  CHECK(i.type == FieldType::kFloat);
  CHECK(i.bad == -1);
  CHECK(type_of({"1", "null"}).type == FieldType::kFloat);  // null is missing
  const FieldTyping b = type_of({"true", "false", "-"});
  CHECK(b.bad == 2);
  CHECK(b.why.find("expected true or false") != std::string::npos);
  CHECK(type_of({"\"a\"", "-"}).type == FieldType::kString);
  CHECK(std::get<std::string>(to_field(nullptr, FieldType::kString)).empty());
  CHECK(std::isnan(std::get<double>(to_field(nullptr, FieldType::kFloat))));
}

TEST_CASE("field typing: mixed kinds fail at the first value of another kind") {
  const FieldTyping a = type_of({"1", "2", "\"3\"", "true"});
  CHECK(a.bad == 2);
  CHECK(a.why.find("expected an integer as in the first stimulus that has the field (0), got text") !=
        std::string::npos);
  CHECK(type_of({"-", "true", "1"}).bad == 2);  // a boolean is not a number
  CHECK(type_of({"\"a\"", "{\"k\": 1}", "2.5"}).bad == 2);
  const FieldTyping big = type_of({"1", "18446744073709551615"});
  CHECK(big.bad == 1);
  CHECK(big.why.find("beyond int64") != std::string::npos);
}

TEST_CASE("field values: typed and as text") {
  std::vector<json> keep;
  const FieldTyping t = type_of({"2", "0.1"}, &keep);
  CHECK(std::get<double>(to_field(&keep[0], t.type)) == 2.0);
  CHECK(field_text(to_field(&keep[1], t.type)) == "0.1");  // shortest round-trip
  CHECK(field_text(FieldValue(int64_t(-7))) == "-7");
  CHECK(field_text(FieldValue(true)) == "true");
  const json nested = json::parse("{\"b\": [1, 2]}");
  CHECK(std::get<std::string>(to_field(&nested, FieldType::kString)) == "{\"b\":[1,2]}");
  CHECK(std::get<int64_t>(to_field(&keep[0], FieldType::kInt)) == 2);
}
