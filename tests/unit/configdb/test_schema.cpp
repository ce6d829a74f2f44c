// The JSON Schema against the validator: every key the example uses is described, every
// object is closed (additionalProperties: false), and every property the schema lists is
// one the validator knows (no "unknown key" for it).
#include "configdb/document.hpp"
#include "configdb/schema.hpp"
#include "fixtures.hpp"

using namespace cats::configdb;
using namespace cats::configdb::test;
namespace json = boost::json;

namespace {

// The schema node describing the value at a document position (objects: properties or
// additionalProperties; arrays: items).
const json::object* member_schema(const json::object& s, const std::string& key) {
  if (auto* p = s.if_contains("properties"))
    if (auto* m = p->as_object().if_contains(key)) return &m->as_object();
  if (auto* a = s.if_contains("additionalProperties"))
    if (a->is_object()) return &a->as_object();
  return nullptr;
}

void covers(const json::value& doc, const json::object& s, const std::string& at) {
  INFO(at);
  if (doc.is_object()) {
    CHECK(s.at("type") == "object");
    for (auto& [k, v] : doc.as_object()) {
      std::string p = at + "/" + std::string(k);
      auto* m = member_schema(s, std::string(k));
      INFO(p);
      REQUIRE(m != nullptr);
      covers(v, *m, p);
    }
  } else if (doc.is_array()) {
    CHECK(s.at("type") == "array");
    for (size_t i = 0; i < doc.as_array().size(); ++i)
      covers(doc.as_array()[i], s.at("items").as_object(), at + "/" + std::to_string(i));
  } else if (doc.is_string()) {
    CHECK(s.at("type") == "string");
  } else if (doc.is_int64() || doc.is_uint64()) {
    CHECK((s.at("type") == "integer" || s.at("type") == "number"));
  } else if (doc.is_double()) {
    CHECK(s.at("type") == "number");
  }
}

// A value the schema allows, for probing the validator with keys the example leaves out.
json::value sample(const json::object& s) {
  if (auto* e = s.if_contains("enum")) return e->as_array()[0];
  auto type = s.at("type").as_string();
  if (type == "integer" || type == "number") return s.contains("minimum") ? s.at("minimum") : json::value(1);
  if (type == "array") return json::array{};
  if (type == "object") return json::object{};
  return "x";
}

void closed(const json::object& s, const std::string& at) {
  INFO(at);
  if (s.at("type") == "object" && s.contains("properties")) {
    CHECK(s.at("additionalProperties") == false);
    for (auto& [k, v] : s.at("properties").as_object()) closed(v.as_object(), at + "/" + std::string(k));
  }
  if (s.at("type") == "array") closed(s.at("items").as_object(), at + "/items");
}

}  // namespace

TEST_CASE("the schema describes every key of the example configuration") {
  auto& s = schema().as_object();
  CHECK(s.at("$schema") == "https://json-schema.org/draft/2020-12/schema");
  auto doc = example_doc();
  doc.at("probing").as_object()["auth_key"] = kAuthKey;
  covers(doc, s, "");
  // Required members are real properties.
  for (auto& r : s.at("required").as_array()) CHECK(s.at("properties").as_object().contains(r.as_string()));
}

TEST_CASE("every object in the schema is closed") { closed(schema().as_object(), ""); }

TEST_CASE("every property in the schema is a key the validator knows") {
  auto base = example_doc();
  // The objects of the example, with their schema: each property is put in (with a value
  // of its type) and must not be called unknown.
  std::vector<std::pair<std::string, const json::object*>> places;
  auto& root = schema().as_object();
  places.emplace_back("", &root);
  for (auto& [k, v] : root.at("properties").as_object()) {
    auto& sub = v.as_object();
    if (sub.at("type") == "object") places.emplace_back("/" + std::string(k), &sub);
    if (sub.at("type") == "array") places.emplace_back("/" + std::string(k) + "/0", &sub.at("items").as_object());
  }
  auto& svc = root.at("properties").at("service").at("items").as_object();
  places.emplace_back("/service/0/instance/0", &svc.at("properties").at("instance").at("items").as_object());
  places.emplace_back("/service/0/sla", &svc.at("properties").at("sla").as_object());
  places.emplace_back("/service/0/weights", &svc.at("properties").at("weights").as_object());
  size_t probed = 0;
  for (auto& [where, s] : places) {
    for (auto& [k, v] : s->at("properties").as_object()) {
      auto doc = base;
      json::error_code ec;
      json::value* obj = where.empty() ? &doc : doc.find_pointer(where, ec);
      if (!obj) {  // a section the example leaves out
        doc.as_object()[where.substr(1)] = json::object{};
        obj = &doc.at_pointer(where);
      }
      auto& o = obj->as_object();
      if (!o.contains(k)) o[k] = sample(v.as_object());
      std::string p = where + "/" + std::string(k);
      INFO(p << "\n" << dump(validate(doc)));
      CHECK_FALSE(has(validate(doc), p, "unknown key"));
      ++probed;
    }
    // And a key the schema does not list is refused by both.
    auto doc = base;
    json::error_code ec;
    auto* obj = where.empty() ? &doc : doc.find_pointer(where, ec);
    if (!obj) continue;
    obj->as_object()["no_such_key"] = 1;
    CHECK(has(validate(doc), where + "/no_such_key", "unknown key"));
  }
  CHECK(probed > 60);
}
