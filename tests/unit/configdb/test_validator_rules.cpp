// The validator, one case per rule (issue 9 "Tests": one case per rule, TOML and JSON paths
// agree). The cases are rows of validator_rules.txt (its head describes the format), read at
// run time: each breaks one rule of config::check_cpe in the example configuration
// (docs/examples/cpe.toml), and is checked twice:
//   * JSON path: the document (from_toml of the file) edited as boost::json and checked by
//     configdb::validate, as PUT/PATCH/import do;
//   * TOML path: the file parsed by toml++, the same edit made on the TOML tree, written
//     back as TOML text and checked by config::check_cpe, as the daemon's start does.
// The JSON path's problems must be exactly the row's `expect` lines (pointer and full text,
// in order), and the TOML path's the same. A second test reads common/config/config.cpp
// and fails when a key the CPE validator reads, or a message it writes, has no row: a new
// rule needs a row before the tests pass.
// Rules on one path only, by design, are tested in test_document.cpp (JSON: null, integers
// beyond int64, non-finite numbers, duplicate keys, depth, size; TOML: syntax, file size).
// The table is data, not code. (The first version, ~180 C++ cases, never finished compiling:
// its JSON -> TOML conversion was a template taking a generic lambda that called itself
// with a new lambda per nesting level, which GCC instantiates without end; the same
// conversion below is plain functions, and this file compiles in ~20 s.)
#include "config/config.hpp"
#include "configdb/document.hpp"
#include "fixtures.hpp"
#include "source_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

using namespace cats::configdb;
using namespace cats::configdb::test;
namespace json = boost::json;

namespace {

// One edit: the value at `ptr` set (object member added or replaced, array element
// replaced, "-" appends) or, without a value, removed.
struct Op {
  std::string ptr;
  std::optional<json::value> value;
};

struct Case {
  std::string name;
  int line = 0;
  std::vector<Op> ops;
  FieldErrors expect;
};

struct Table {
  std::vector<Case> cases;
  std::map<std::string, std::string> not_cpe;  // key or message part -> why it has no row
};

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "${N*c}" -> c repeated N times (long names and keys without spelling them out).
std::string expand(std::string s) {
  static const std::regex rep(R"(\$\{(\d+)\*(.)\})");
  std::smatch m;
  while (std::regex_search(s, m, rep))
    s = m.prefix().str() + std::string(std::stoul(m[1].str()), m[2].str()[0]) + m.suffix().str();
  return s;
}

// The example's service app1 as `id` on `vip`, with `n` instances behind cloud1
// (10.2.1.10, .11, ...): the limits on instances and candidates.
json::value service_with(const json::value& base, const std::string& id, const std::string& vip, int n) {
  auto s = base.at_pointer("/service/0");
  s.as_object()["id"] = id;
  s.as_object()["vip"] = vip;
  json::array insts;
  for (int i = 0; i < n; ++i)
    insts.push_back(json::object{{"vcpe", "cloud1"}, {"address", "10.2.1." + std::to_string(10 + i) + ":8080"}});
  s.as_object()["instance"] = std::move(insts);
  return s;
}

// Splits "first rest of line".
std::pair<std::string, std::string> word(const std::string& s) {
  auto sp = s.find(' ');
  if (sp == std::string::npos) return {s, ""};
  return {s.substr(0, sp), trim(s.substr(sp + 1))};
}

Table load_table(const json::value& base) {
  const std::string text = cats::test::source_file("tests/unit/configdb/validator_rules.txt");
  REQUIRE_FALSE(text.empty());
  Table t;
  std::map<std::string, std::vector<std::string>> macros;
  std::string in_macro;
  std::istringstream is(text);
  std::string raw;
  int n = 0;
  // One line of ops into `out`; a macro's lines are expanded where it is used.
  std::function<void(const std::string&, std::vector<Op>&)> op_line = [&](const std::string& l, std::vector<Op>& out) {
    auto [verb, rest] = word(l);
    INFO("validator_rules.txt:" << n << ": " << l);
    if (verb == "set") {
      auto [ptr, value] = word(rest);
      json::error_code ec;
      auto v = json::parse(value, ec);
      REQUIRE_FALSE(ec);
      out.push_back({ptr, std::move(v)});
    } else if (verb == "del") {
      out.push_back({rest, std::nullopt});
    } else if (verb == "use") {
      REQUIRE(macros.count(rest));
      for (const auto& m : macros[rest]) op_line(m, out);
    } else if (verb == "service") {
      std::istringstream ws(rest);
      std::string ptr, id, vip;
      int count = 0;
      REQUIRE(static_cast<bool>(ws >> ptr >> id >> vip >> count));
      out.push_back({ptr, service_with(base, id, vip, count)});
    } else {
      FAIL("unknown line");
    }
  };
  while (std::getline(is, raw)) {
    ++n;
    const std::string l = expand(trim(raw));
    if (l.empty() || l[0] == '#') continue;
    auto [verb, rest] = word(l);
    if (!in_macro.empty()) {
      if (verb == "end") in_macro.clear();
      else macros[in_macro].push_back(l);
      continue;
    }
    if (verb == "macro") {
      in_macro = rest;
      macros[rest];
    } else if (verb == "not-cpe") {
      // not-cpe KEY why / not-cpe "message part" why
      std::string what = rest.substr(0, rest.find(' ')), why;
      if (!rest.empty() && rest[0] == '"') what = rest.substr(1, rest.find('"', 1) - 1);
      why = trim(rest.substr(std::min(rest.size(), what.size() + (rest[0] == '"' ? 2 : 0))));
      INFO("validator_rules.txt:" << n);
      REQUIRE_FALSE(why.empty());
      t.not_cpe[what] = why;
    } else if (verb == "case") {
      t.cases.push_back(Case{rest, n, {}, {}});
    } else if (verb == "expect") {
      INFO("validator_rules.txt:" << n);
      REQUIRE_FALSE(t.cases.empty());
      auto [ptr, message] = word(rest);
      t.cases.back().expect.push_back({ptr, message});
    } else {
      REQUIRE_FALSE(t.cases.empty());
      op_line(l, t.cases.back().ops);
    }
  }
  return t;
}

std::vector<std::string> tokens(const std::string& ptr) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= ptr.size()) {
    size_t end = ptr.find('/', pos);
    if (end == std::string::npos) end = ptr.size();
    std::string t = ptr.substr(pos, end - pos);
    for (size_t i; (i = t.find("~1")) != std::string::npos;) t.replace(i, 2, "/");
    for (size_t i; (i = t.find("~0")) != std::string::npos;) t.replace(i, 2, "~");
    out.push_back(t);
    pos = end + 1;
  }
  return out;
}

void apply_json(json::value& doc, const Op& op) {
  auto t = tokens(op.ptr);
  REQUIRE_FALSE(t.empty());
  json::value* cur = &doc;
  for (size_t i = 0; i + 1 < t.size(); ++i)
    cur = cur->is_object() ? &cur->as_object().at(t[i]) : &cur->as_array().at(std::stoul(t[i]));
  const auto& last = t.back();
  if (cur->is_object()) {
    if (op.value) cur->as_object()[last] = *op.value;
    else REQUIRE(cur->as_object().erase(last) == 1);
  } else {
    auto& a = cur->as_array();
    if (last == "-") a.push_back(*op.value);
    else if (op.value) a.at(std::stoul(last)) = *op.value;
    else a.erase(a.begin() + static_cast<std::ptrdiff_t>(std::stoul(last)));
  }
}

// The JSON value as the TOML node a person would write (integers stay integers, floats
// floats: the rows spell each number as it is meant), set under `key` of a table or
// appended to / replacing an element of an array. Plain functions, not a template over a
// callback: a generic lambda per level made GCC instantiate without end.
void put(toml::table& t, const std::string& key, const json::value& v);
void put(toml::array& a, const json::value& v, std::optional<size_t> at);

toml::table to_table(const json::object& o) {
  toml::table t;
  for (auto& [k, m] : o) put(t, std::string(k), m);
  return t;
}

toml::array to_array(const json::array& arr) {
  toml::array a;
  for (auto& e : arr) put(a, e, std::nullopt);
  return a;
}

template <class Put>
void put_value(const json::value& v, Put&& into) {
  switch (v.kind()) {
    case json::kind::object: into(to_table(v.get_object())); break;
    case json::kind::array: into(to_array(v.get_array())); break;
    case json::kind::string: into(std::string(v.get_string())); break;
    case json::kind::int64: into(v.get_int64()); break;
    case json::kind::uint64: into(static_cast<int64_t>(v.get_uint64())); break;
    case json::kind::double_: into(v.get_double()); break;
    case json::kind::bool_: into(v.get_bool()); break;
    case json::kind::null: FAIL("null has no TOML form"); break;
  }
}

void put(toml::table& t, const std::string& key, const json::value& v) {
  put_value(v, [&](auto&& n) { t.insert_or_assign(key, std::forward<decltype(n)>(n)); });
}

void put(toml::array& a, const json::value& v, std::optional<size_t> at) {
  put_value(v, [&](auto&& n) {
    if (at) a.replace(a.cbegin() + static_cast<std::ptrdiff_t>(*at), std::forward<decltype(n)>(n));
    else a.push_back(std::forward<decltype(n)>(n));
  });
}

void apply_toml(toml::table& root, const Op& op) {
  auto t = tokens(op.ptr);
  toml::node* cur = &root;
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    if (auto* tb = cur->as_table()) cur = tb->get(t[i]);
    else cur = cur->as_array()->get(std::stoul(t[i]));
    REQUIRE(cur != nullptr);
  }
  const auto& last = t.back();
  if (auto* tb = cur->as_table()) {
    if (op.value) put(*tb, last, *op.value);
    else tb->erase(last);
    return;
  }
  auto* a = cur->as_array();
  REQUIRE(a != nullptr);
  if (last == "-") put(*a, *op.value, std::nullopt);
  else if (op.value) put(*a, *op.value, std::stoul(last));
  else a->erase(a->cbegin() + static_cast<std::ptrdiff_t>(std::stoul(last)));
}

// As the rows spell them, to paste when a message changes on purpose.
std::string as_rows(const FieldErrors& errs) {
  std::string s;
  for (auto& e : errs) s += "expect " + e.field + " " + e.message + "\n";
  return s;
}

}  // namespace

TEST_CASE("validator: one case per rule, the TOML file and the JSON document agree") {
  const auto base_doc = example_doc();
  const std::string example = example_toml();
  const auto base_toml = toml::parse(std::string_view(example), std::string_view("cpe.toml"));
  REQUIRE(validate(base_doc).empty());
  const auto table = load_table(base_doc);
  CHECK(table.cases.size() > 150);
  std::set<std::string> names;
  for (const auto& c : table.cases) {
    INFO("validator_rules.txt:" << c.line << ": case " << c.name);
    CHECK(names.insert(c.name).second);
    CHECK_FALSE(c.expect.empty());
    auto doc = base_doc;
    toml::table tree = base_toml;
    for (const auto& op : c.ops) {
      apply_json(doc, op);
      apply_toml(tree, op);
    }
    auto js = validate(doc);
    std::ostringstream text;
    text << tree;
    auto check = cats::config::check_cpe(text.str(), "cpe.toml");
    FieldErrors toml_errs;
    for (auto& p : check.problems) toml_errs.push_back({pointer_for(p.field, doc), p.reason});
    INFO("JSON path:\n" << as_rows(js) << "TOML path:\n" << as_rows(toml_errs));
    CHECK_FALSE(check.config.has_value());
    // The row's rule, its exact text and pointer, and nothing else.
    CHECK(as_rows(js) == as_rows(c.expect));
    // Both paths: the same problems in the same order.
    CHECK(as_rows(toml_errs) == as_rows(js));
  }
}

TEST_CASE("validator: every key and message of the CPE validator has a row") {
  const auto table = load_table(example_doc());
  std::string src = cats::test::source_file("common/config/config.cpp");
  // check_cpe ends where the vCPE's and the daemon-section readers begin.
  const auto end = src.find("Result<Daemon> parse_daemon_section");
  REQUIRE(end != std::string::npos);
  src.resize(end);
  std::string covered;  // every expected pointer and message, one per line
  for (const auto& c : table.cases)
    for (const auto& e : c.expect) covered += e.field + "/ " + e.message + "\n";
  auto has_key = [&](const std::string& k) { return covered.find("/" + k + "/") != std::string::npos; };
  // Keys: every field a reader takes by name.
  static const std::regex key_call(
      R"(\b(?:integer|number|str|choice|ifname|address|prefixes|table|tables|key|read_b64|strings|get|error)\(\s*(?:\w+,\s*)?\"([a-z_]+)\")");
  std::set<std::string> keys;
  for (std::sregex_iterator it(src.begin(), src.end(), key_call), e; it != e; ++it) keys.insert((*it)[1].str());
  CHECK(keys.size() > 60);
  for (const auto& k : keys) {
    INFO("key '" << k << "' has no row in validator_rules.txt (nor a not-cpe line)");
    CHECK((has_key(k) || table.not_cpe.count(k)));
  }
  // Messages: every string literal with words on a line that reports a problem.
  static const std::regex literal(R"re("((?:[^"\\]|\\.)*)")re");
  std::istringstream lines(src);
  std::string l;
  size_t messages = 0;
  while (std::getline(lines, l)) {
    if (l.find("error(") == std::string::npos && l.find(".add(") == std::string::npos &&
        l.find("return \"") == std::string::npos)
      continue;
    for (std::sregex_iterator it(l.begin(), l.end(), literal), e; it != e; ++it) {
      std::string part = std::regex_replace((*it)[1].str(), std::regex(R"(\\(.))"), "$1");
      if (std::count_if(part.begin(), part.end(), [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)); }) < 3)
        continue;
      if (keys.count(part)) continue;  // the key argument, covered above
      if (part[0] == '.' || part[0] == '[') continue;  // a field path being built ("path + \".weights\"")
      ++messages;
      INFO("message part \"" << part << "\" (config.cpp: " << trim(l) << ") has no row in validator_rules.txt");
      CHECK((covered.find(part) != std::string::npos || table.not_cpe.count(part)));
    }
  }
  CHECK(messages > 60);
}
