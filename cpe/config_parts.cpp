#include "cpe/config_parts.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <vector>

namespace cats::cpe {

namespace json = boost::json;

namespace {

// RFC 6901 §4: "~1" is '/', "~0" is '~' (in that order). nullopt for a bad escape.
std::optional<std::vector<std::string>> tokens(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  if (path.front() != '/') return std::nullopt;
  size_t i = 1;
  while (true) {
    size_t j = path.find('/', i);
    std::string_view raw = path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    std::string t;
    for (size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] != '~') {
        t += raw[k];
        continue;
      }
      if (k + 1 >= raw.size() || (raw[k + 1] != '0' && raw[k + 1] != '1')) return std::nullopt;
      t += raw[++k] == '0' ? '~' : '/';
    }
    out.push_back(std::move(t));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

std::optional<size_t> index_in(const json::array& a, const std::string& t) {
  size_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec == std::errc() && p == t.data() + t.size() && !t.empty() && (t == "0" || t[0] != '0'))
    return n < a.size() ? std::optional<size_t>(n) : std::nullopt;
  for (size_t k = 0; k < a.size(); ++k) {
    if (!a[k].is_object()) continue;
    for (const char* key : {"id", "name"})
      if (const auto* v = a[k].as_object().if_contains(key); v && v->is_string() && v->get_string() == t) return k;
  }
  return std::nullopt;
}

// Walks all but the last `leave` tokens; the plain pointer so far and the value reached.
struct Walk {
  std::string pointer;
  const json::value* at = nullptr;
};
std::optional<Walk> walk(const json::value& doc, const std::vector<std::string>& ts, size_t leave) {
  Walk w{"", &doc};
  for (size_t i = 0; i + leave < ts.size(); ++i) {
    const auto& t = ts[i];
    if (w.at->is_object()) {
      const auto* next = w.at->as_object().if_contains(t);
      if (!next) return std::nullopt;
      w.pointer += "/" + configdb::escape_token(t);
      w.at = next;
    } else if (w.at->is_array()) {
      auto k = index_in(w.at->as_array(), t);
      if (!k) return std::nullopt;
      w.pointer += "/" + std::to_string(*k);
      w.at = &w.at->as_array()[*k];
    } else {
      return std::nullopt;
    }
  }
  return w;
}

configdb::FieldErrors not_found(std::string_view path) { return {{std::string(path), "no such part of the configuration"}}; }

}  // namespace

std::optional<std::string> resolve_part(const json::value& doc, std::string_view path) {
  auto ts = tokens(path);
  if (!ts) return std::nullopt;
  auto w = walk(doc, *ts, 0);
  if (!w) return std::nullopt;
  return w->pointer;
}

Expected<configdb::Patch, configdb::FieldErrors> put_part(const json::value& doc, std::string_view path,
                                                                      const json::value& value) {
  auto ts = tokens(path);
  if (!ts || ts->empty()) return configdb::FieldErrors{{std::string(path), "a JSON pointer to a part, e.g. /service/app1"}};
  if (auto whole = walk(doc, *ts, 0)) return configdb::Patch{{"replace", whole->pointer, value, std::nullopt}};
  auto parent = walk(doc, *ts, 1);
  if (!parent) return not_found(path);
  const auto& last = ts->back();
  if (parent->at->is_object()) return configdb::Patch{{"add", parent->pointer + "/" + configdb::escape_token(last), value, std::nullopt}};
  if (parent->at->is_array() && last == "-") return configdb::Patch{{"add", parent->pointer + "/-", value, std::nullopt}};
  return not_found(path);
}

Expected<configdb::Patch, configdb::FieldErrors> delete_part(const json::value& doc, std::string_view path) {
  auto ts = tokens(path);
  if (!ts || ts->empty()) return configdb::FieldErrors{{std::string(path), "a JSON pointer to a part, e.g. /service/app1"}};
  auto w = walk(doc, *ts, 0);
  if (!w) return not_found(path);
  return configdb::Patch{{"remove", w->pointer, std::nullopt, std::nullopt}};
}

}  // namespace cats::cpe
