#include "configdb/document.hpp"

#include "config/config.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

namespace cats::configdb {

namespace json = boost::json;

namespace {

constexpr size_t kMaxErrors = 100;

// Duplicate-key detection in one SAX pass (boost::json::basic_parser): the DOM parser
// keeps only the last of two equal keys, so the check must see the keys as they come.
// Only keys and positions matter here; values are read by the DOM parse afterwards.
class DupKeys {
 public:
  static constexpr size_t max_object_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_array_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_key_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_string_size = std::numeric_limits<size_t>::max();

  FieldErrors errors;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return open(true); }
  bool on_object_end(size_t, json::error_code&) { return close(); }
  bool on_array_begin(json::error_code&) { return open(false); }
  bool on_array_end(size_t, json::error_code&) { return close(); }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    Frame& f = frames_.back();
    f.token = escape_token(key_);
    if (!f.keys.insert(key_).second && errors.size() < kMaxErrors)
      errors.push_back({path(), "duplicate key '" + key_ + "'"});
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view, size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, size_t, json::error_code&) { return element(); }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return element(); }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) { return element(); }
  bool on_double(double, json::string_view, json::error_code&) { return element(); }
  bool on_bool(bool, json::error_code&) { return element(); }
  bool on_null(json::error_code&) { return element(); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct Frame {
    bool object;
    size_t count = 0;
    std::string token;  // the current member's escaped key or element's index
    std::set<std::string> keys;
  };

  // A value starts: in an array it is the next element.
  bool element() {
    if (!frames_.empty() && !frames_.back().object) frames_.back().token = std::to_string(frames_.back().count++);
    return true;
  }
  bool open(bool object) {
    element();
    frames_.push_back({object, 0, {}, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  std::string path() const {
    std::string p;
    for (auto& f : frames_) p += "/" + f.token;
    return p;
  }

  std::vector<Frame> frames_;
  std::string key_;
};

void json_only_checks(const json::value& v, const std::string& at, int depth, FieldErrors& out) {
  if (out.size() >= kMaxErrors) return;
  if (depth > kMaxDepth) {
    out.push_back({at, "nested deeper than " + std::to_string(kMaxDepth) + " levels"});
    return;
  }
  switch (v.kind()) {
    case json::kind::null:
      out.push_back({at, "null is not allowed (leave the key out for its default)"});
      break;
    case json::kind::uint64:
      if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        out.push_back({at, "integer out of range (at most 9223372036854775807)"});
      break;
    case json::kind::double_:
      if (!std::isfinite(v.get_double())) out.push_back({at, "must be a finite number"});
      break;
    case json::kind::object:
      for (auto& [k, m] : v.get_object()) json_only_checks(m, at + "/" + escape_token(k), depth + 1, out);
      break;
    case json::kind::array: {
      size_t i = 0;
      for (auto& e : v.get_array()) json_only_checks(e, at + "/" + std::to_string(i++), depth + 1, out);
      break;
    }
    default:
      break;
  }
}

// 2^53: above it a double no longer holds every integer, so it stays a double.
constexpr double kExactIntLimit = 9007199254740992.0;

// JSON numbers have no integer/float distinction (RFC 8259 §6) and JavaScript writes 25.0
// as 25, so an integral double is an integer (TOML and the text form); others stay floats.
bool integral(double d) { return std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= kExactIntLimit; }

bool fill(toml::table& t, const json::object& o);
bool fill(toml::array& a, const json::array& arr);

// Adds `v` to a table (under `key`) or an array as its concrete TOML type; false on null.
// Integral doubles become integers (see integral()).
template <class Container, class... Key>
bool add(Container& c, const json::value& v, Key... key) {
  auto put = [&](auto&& x) {
    if constexpr (sizeof...(Key) == 1) c.insert(key..., std::forward<decltype(x)>(x));
    else c.push_back(std::forward<decltype(x)>(x));
  };
  switch (v.kind()) {
    case json::kind::object: {
      toml::table t;
      if (!fill(t, v.get_object())) return false;
      put(std::move(t));
      return true;
    }
    case json::kind::array: {
      toml::array a;
      if (!fill(a, v.get_array())) return false;
      put(std::move(a));
      return true;
    }
    case json::kind::string: put(std::string(v.get_string())); return true;
    case json::kind::int64: put(v.get_int64()); return true;
    // json_only_checks refused values beyond int64.
    case json::kind::uint64: put(static_cast<int64_t>(v.get_uint64())); return true;
    case json::kind::double_: {
      double d = v.get_double();
      if (integral(d)) put(static_cast<int64_t>(d));
      else put(d);
      return true;
    }
    case json::kind::bool_: put(v.get_bool()); return true;
    case json::kind::null: return false;
  }
  return false;
}

bool fill(toml::table& t, const json::object& o) {
  for (auto& [k, m] : o)
    if (!add(t, m, std::string_view(k.data(), k.size()))) return false;
  return true;
}

bool fill(toml::array& a, const json::array& arr) {
  for (auto& e : arr)
    if (!add(a, e)) return false;
  return true;
}

std::optional<json::value> from_node(const toml::node& n) {
  if (auto* t = n.as_table()) {
    json::object o;
    for (auto& [k, m] : *t) {
      auto v = from_node(m);
      if (!v) return std::nullopt;
      o[k.str()] = std::move(*v);
    }
    return json::value(std::move(o));
  }
  if (auto* a = n.as_array()) {
    json::array out;
    for (auto& e : *a) {
      auto v = from_node(e);
      if (!v) return std::nullopt;
      out.push_back(std::move(*v));
    }
    return json::value(std::move(out));
  }
  if (auto* s = n.as_string()) return json::value(s->get());
  if (auto* i = n.as_integer()) return json::value(i->get());
  if (auto* f = n.as_floating_point()) {
    if (!std::isfinite(f->get())) return std::nullopt;
    return json::value(f->get());
  }
  if (auto* b = n.as_boolean()) return json::value(b->get());
  return std::nullopt;  // dates and times: no key of the configuration takes one
}

void write_number(std::string& out, double d) {
  if (integral(d)) {
    out += std::to_string(static_cast<int64_t>(d));
    return;
  }
  if (!std::isfinite(d)) {  // never in a validated document; JSON has no spelling for it
    out += "null";
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

void newline(std::string& out, int indent, int level) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent * level), ' ');
}

void write(std::string& out, const json::value& v, int indent, int level) {
  switch (v.kind()) {
    case json::kind::object: {
      auto& o = v.get_object();
      std::vector<std::pair<std::string_view, const json::value*>> members;
      for (auto& [k, m] : o) members.emplace_back(std::string_view(k.data(), k.size()), &m);
      std::sort(members.begin(), members.end(), [](auto& a, auto& b) { return a.first < b.first; });
      out += '{';
      for (size_t i = 0; i < members.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        out += json::serialize(json::string_view(members[i].first.data(), members[i].first.size()));
        out += indent < 0 ? ":" : ": ";
        write(out, *members[i].second, indent, level + 1);
      }
      if (!members.empty()) newline(out, indent, level);
      out += '}';
      break;
    }
    case json::kind::array: {
      auto& a = v.get_array();
      out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        write(out, a[i], indent, level + 1);
      }
      if (!a.empty()) newline(out, indent, level);
      out += ']';
      break;
    }
    case json::kind::double_:
      write_number(out, v.get_double());
      break;
    default:
      out += json::serialize(v);
      break;
  }
}

json::value* child(json::value* v, std::string_view key) {
  if (!v || !v->is_object()) return nullptr;
  return v->get_object().if_contains(json::string_view(key.data(), key.size()));
}

// The parent object and key of a two-level pointer ("/probing/auth_key"); the secret
// table holds only such pointers.
std::pair<json::value*, std::string> locate(json::value& doc, const std::string& pointer) {
  auto slash = pointer.find('/', 1);
  auto* parent = child(&doc, pointer.substr(1, slash - 1));
  return {parent && parent->is_object() ? parent : nullptr, pointer.substr(slash + 1)};
}

}  // namespace

[[noreturn]] void throw_exception_from_error(const FieldErrors& e, const boost::source_location&) {
  throw std::runtime_error(e.empty() ? "invalid document" : e.front().field + ": " + e.front().message);
}

std::string escape_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

Expected<json::value, FieldErrors> parse_document(std::string_view text) {
  if (text.size() > kMaxDocumentBytes) return FieldErrors{{"", "document larger than 1 MiB"}};
  json::parse_options opt;
  opt.max_depth = kMaxDepth;
  json::basic_parser<DupKeys> sax(opt);
  json::error_code ec;
  size_t n = sax.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    std::string why = ec == json::error::too_deep ? "nested deeper than " + std::to_string(kMaxDepth) + " levels"
                                                 : "invalid JSON: " + ec.message();
    return FieldErrors{{"", why + " (at byte " + std::to_string(n) + ")"}};
  }
  if (!sax.handler().errors.empty()) return std::move(sax.handler().errors);
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, opt);
  if (ec) return FieldErrors{{"", "invalid JSON: " + ec.message()}};
  if (!v.is_object()) return FieldErrors{{"", "the configuration must be a JSON object"}};
  return v;
}

Expected<std::string, FieldErrors> to_toml(const json::value& doc) {
  if (!doc.is_object()) return FieldErrors{{"", "the configuration must be a JSON object"}};
  FieldErrors errs;
  json_only_checks(doc, "", 0, errs);
  if (!errs.empty()) return errs;
  toml::table root;
  bool ok = fill(root, doc.get_object());
  if (!ok) return FieldErrors{{"", "not representable in TOML"}};
  std::ostringstream os;
  os << root;
  return os.str();
}

FieldErrors validate(const json::value& doc) {
  auto text = to_toml(doc);
  if (!text) return text.error();
  auto check = config::check_cpe(*text, "document");
  FieldErrors out;
  for (auto& p : check.problems) {
    if (p.field.empty()) out.push_back({"", p.reason});
    else out.push_back({pointer_for(p.field, doc), p.reason});
  }
  return out;
}

Expected<json::value, FieldErrors> from_toml(std::string_view text, const std::string& file_name) {
  auto check = config::check_cpe(text, file_name);
  if (!check.config) {
    FieldErrors out;
    for (auto& p : check.problems) out.push_back({p.field, config::format_problem(file_name, p)});
    return out;
  }
  // check_cpe parsed the same text already; this cannot fail in a different way.
  toml::table t;
  try {
    t = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    return FieldErrors{{"", file_name + ": " + std::string(e.description())}};
  }
  auto v = from_node(t);
  if (!v) return FieldErrors{{"", file_name + ": holds a date, time or non-finite number"}};
  return std::move(*v);
}

std::string canonical(const json::value& doc) {
  std::string out;
  write(out, doc, -1, 0);
  return out;
}

std::string pretty(const json::value& doc) {
  std::string out;
  write(out, doc, 2, 0);
  out += '\n';
  return out;
}

std::string pointer_for(std::string_view field, const json::value& doc) {
  std::string out;
  const json::value* cur = &doc;
  size_t pos = 0;
  while (pos < field.size()) {
    if (field[pos] == '.') {
      ++pos;
      continue;
    }
    if (field[pos] == '[') {
      size_t end = field.find(']', pos);
      if (end == std::string_view::npos) end = field.size();
      auto idx = field.substr(pos + 1, end - pos - 1);
      out += "/" + std::string(idx);
      size_t i = 0;
      auto [p, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), i);
      (void)p;
      cur = (cur && cur->is_array() && ec == std::errc() && i < cur->get_array().size()) ? &cur->get_array()[i]
                                                                                        : nullptr;
      pos = end + 1;
      continue;
    }
    auto rest = field.substr(pos);
    // The longest member of the current object that the rest of the path starts with,
    // followed by a separator: keys may contain '.' or '['.
    std::string_view key;
    if (cur && cur->is_object())
      for (auto& [k, m] : cur->get_object()) {
        std::string_view kv(k.data(), k.size());
        if (kv.size() > key.size() && rest.substr(0, kv.size()) == kv &&
            (kv.size() == rest.size() || rest[kv.size()] == '.' || rest[kv.size()] == '['))
          key = kv;
      }
    if (key.empty()) key = rest.substr(0, rest.find_first_of(".["));
    out += "/" + escape_token(key);
    cur = (cur && cur->is_object()) ? cur->get_object().if_contains(json::string_view(key.data(), key.size())) : nullptr;
    pos += key.size();
  }
  return out;
}

const std::vector<std::string>& secret_pointers() {
  static const std::vector<std::string> k{"/probing/auth_key"};
  return k;
}

json::value redact(const json::value& doc) {
  json::value out = doc;
  for (auto& p : secret_pointers()) {
    auto [parent, key] = locate(out, p);
    if (auto* v = child(parent, key)) *v = json::string(kRedacted.data(), kRedacted.size());
  }
  return out;
}

void restore_secrets(json::value& doc, const json::value& current) {
  json::value cur = current;  // locate() takes a mutable value; `current` stays untouched
  for (auto& p : secret_pointers()) {
    auto [parent, key] = locate(doc, p);
    auto* v = child(parent, key);
    if (!v || !v->is_string() || v->get_string() != json::string_view(kRedacted.data(), kRedacted.size())) continue;
    auto [cparent, ckey] = locate(cur, p);
    if (auto* c = child(cparent, ckey)) *v = *c;
    else parent->get_object().erase(json::string_view(key.data(), key.size()));
  }
}

}  // namespace cats::configdb
