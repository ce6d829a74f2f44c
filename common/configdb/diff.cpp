#include "configdb/diff.hpp"

#include <boost/json/serialize.hpp>

namespace cats::configdb {

namespace json = boost::json;

namespace {

constexpr size_t kMaxOps = 10000;

void walk(const json::value& a, const json::value& b, const std::string& at, Patch& out) {
  if (a.is_object() && b.is_object()) {
    auto& oa = a.get_object();
    auto& ob = b.get_object();
    // Sorted order, like the canonical text, so a patch reads the same way every time.
    std::vector<std::string> keys;
    for (auto& [k, v] : oa) keys.emplace_back(k);
    for (auto& [k, v] : ob)
      if (!oa.contains(k)) keys.emplace_back(k);
    std::sort(keys.begin(), keys.end());
    for (auto& k : keys) {
      std::string p = at + "/" + escape_token(k);
      auto* va = oa.if_contains(k);
      auto* vb = ob.if_contains(k);
      if (va && vb) walk(*va, *vb, p, out);
      else if (va) out.push_back({"remove", p, std::nullopt, *va});
      else out.push_back({"add", p, *vb, std::nullopt});
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    auto& aa = a.get_array();
    auto& ab = b.get_array();
    size_t common = std::min(aa.size(), ab.size());
    for (size_t i = 0; i < common; ++i) walk(aa[i], ab[i], at + "/" + std::to_string(i), out);
    for (size_t i = common; i < ab.size(); ++i) out.push_back({"add", at + "/" + std::to_string(i), ab[i], std::nullopt});
    for (size_t i = aa.size(); i > common; --i)
      out.push_back({"remove", at + "/" + std::to_string(i - 1), std::nullopt, aa[i - 1]});
    return;
  }
  // Scalars, or a change of kind. Numbers compare by value (1 and 1.0 are one JSON number).
  bool same = a == b;
  if (!same && a.is_number() && b.is_number()) same = a.to_number<double>() == b.to_number<double>();
  if (!same) out.push_back({"replace", at, b, a});
}

// Splits an RFC 6901 pointer into unescaped tokens; nullopt when malformed.
std::optional<std::vector<std::string>> tokens(const std::string& p) {
  std::vector<std::string> out;
  if (p.empty()) return out;
  if (p[0] != '/') return std::nullopt;
  std::string cur;
  for (size_t i = 1; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      out.push_back(std::move(cur));
      cur.clear();
    } else if (p[i] == '~') {
      if (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1')) return std::nullopt;
      cur += p[++i] == '0' ? '~' : '/';
    } else {
      cur += p[i];
    }
  }
  return out;
}

std::optional<size_t> index(const std::string& t, size_t size, bool allow_end) {
  if (allow_end && t == "-") return size;
  if (t.empty() || t.size() > 9 || (t.size() > 1 && t[0] == '0')) return std::nullopt;
  size_t i = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    i = i * 10 + static_cast<size_t>(c - '0');
  }
  if (i > size || (!allow_end && i == size)) return std::nullopt;
  return i;
}

json::value* resolve(json::value& root, const std::vector<std::string>& toks, size_t n) {
  json::value* cur = &root;
  for (size_t i = 0; i < n && cur; ++i) {
    if (cur->is_object()) cur = cur->get_object().if_contains(toks[i]);
    else if (cur->is_array()) {
      auto j = index(toks[i], cur->get_array().size(), false);
      cur = j ? &cur->get_array()[*j] : nullptr;
    } else cur = nullptr;
  }
  return cur;
}

// The error of one op, or "" when it applied.
std::string apply_one(json::value& doc, const PatchOp& op) {
  auto toks = tokens(op.path);
  if (!toks) return "malformed JSON pointer";
  if (op.op == "test") {
    auto* v = resolve(doc, *toks, toks->size());
    return v && op.value && *v == *op.value ? "" : "test failed";
  }
  if (toks->empty()) {  // the whole document
    if (op.op == "remove") return "cannot remove the whole document";
    doc = *op.value;
    return "";
  }
  auto* parent = resolve(doc, *toks, toks->size() - 1);
  if (!parent) return "no such parent";
  const std::string& last = toks->back();
  if (parent->is_object()) {
    auto& o = parent->get_object();
    if (op.op == "add") o[last] = *op.value;
    else if (!o.contains(last)) return "no such member";
    else if (op.op == "remove") o.erase(last);
    else o[last] = *op.value;
    return "";
  }
  if (parent->is_array()) {
    auto& a = parent->get_array();
    auto i = index(last, a.size(), op.op == "add");
    if (!i) return "array index out of range";
    if (op.op == "add") a.insert(a.begin() + static_cast<std::ptrdiff_t>(*i), *op.value);
    else if (op.op == "remove") a.erase(a.begin() + static_cast<std::ptrdiff_t>(*i));
    else a[*i] = *op.value;
    return "";
  }
  return "parent is not an object or array";
}

void redact_in(std::optional<json::value>& v, const std::string& op_path) {
  if (!v) return;
  for (auto& s : secret_pointers()) {
    if (s == op_path) {
      *v = json::string(kRedacted.data(), kRedacted.size());
    } else if (s.compare(0, op_path.size() + 1, op_path + "/") == 0) {
      json::error_code ec;
      if (auto* inner = v->find_pointer(s.substr(op_path.size()), ec))
        *inner = json::string(kRedacted.data(), kRedacted.size());
    }
  }
}

std::string brief(const json::value& v) { return canonical(v); }

}  // namespace

Patch diff(const json::value& a, const json::value& b) {
  Patch out;
  walk(a, b, "", out);
  return out;
}

json::value to_json(const Patch& p) {
  json::array out;
  for (auto& op : p) {
    json::object o;
    o["op"] = op.op;
    o["path"] = op.path;
    if (op.value) o["value"] = *op.value;
    out.push_back(std::move(o));
  }
  return out;
}

Expected<Patch, FieldErrors> patch_from_json(const json::value& v) {
  if (!v.is_array()) return FieldErrors{{"", "a JSON Patch is an array of operations (RFC 6902)"}};
  if (v.get_array().size() > kMaxOps) return FieldErrors{{"", "at most 10000 operations"}};
  Patch out;
  FieldErrors errs;
  size_t i = 0;
  for (auto& e : v.get_array()) {
    std::string at = "/" + std::to_string(i++);
    auto* o = e.if_object();
    auto* op = o ? o->if_contains("op") : nullptr;
    auto* path = o ? o->if_contains("path") : nullptr;
    auto* value = o ? o->if_contains("value") : nullptr;
    if (!op || !op->is_string() || !path || !path->is_string()) {
      errs.push_back({at, "needs string members \"op\" and \"path\""});
      continue;
    }
    std::string name(op->get_string());
    if (name != "add" && name != "remove" && name != "replace" && name != "test") {
      errs.push_back({at + "/op", "must be add, remove, replace or test"});
      continue;
    }
    if (name != "remove" && !value) {
      errs.push_back({at + "/value", "missing (required by \"" + name + "\")"});
      continue;
    }
    PatchOp p{name, std::string(path->get_string()), std::nullopt, std::nullopt};
    if (name != "remove") p.value = *value;
    out.push_back(std::move(p));
  }
  if (!errs.empty()) return errs;
  return out;
}

Expected<json::value, FieldErrors> apply(const json::value& doc, const Patch& p) {
  json::value out = doc;
  for (size_t i = 0; i < p.size(); ++i) {
    auto why = apply_one(out, p[i]);
    if (!why.empty()) return FieldErrors{{"/" + std::to_string(i), p[i].op + " " + p[i].path + ": " + why}};
  }
  return out;
}

Patch redact(Patch p) {
  for (auto& op : p) {
    redact_in(op.value, op.path);
    redact_in(op.old, op.path);
  }
  return p;
}

std::string diff_text(const Patch& p) {
  std::string out;
  for (auto& op : p) {
    if (op.op == "add") out += "+ " + op.path + " = " + brief(*op.value);
    else if (op.op == "remove") out += "- " + op.path + (op.old ? " (was " + brief(*op.old) + ")" : "");
    else if (op.op == "replace")
      out += "~ " + op.path + ": " + (op.old ? brief(*op.old) : std::string("?")) + " -> " + brief(*op.value);
    else out += op.op + " " + op.path;
    out += '\n';
  }
  return out;
}

}  // namespace cats::configdb
