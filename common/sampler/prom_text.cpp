#include "sampler/prom_text.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <unordered_set>

namespace cats::sampler::prom {
namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool name_start(char c) { return alpha(c) || c == ':'; }
bool name_char(char c) { return alpha(c) || digit(c) || c == ':'; }
bool label_char(char c) { return alpha(c) || digit(c); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::optional<Type> parse_type(std::string_view s) {
  // expfmt upper-cases the token before looking it up: the type is case-insensitive.
  for (Type t : {Type::untyped, Type::counter, Type::gauge, Type::histogram, Type::summary})
    if (iequals(s, to_string(t))) return t;
  return std::nullopt;
}

// One line being read; every reader stops at the end of the line.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool end() const { return i >= s.size(); }
  char peek() const { return end() ? '\0' : s[i]; }
  void skip_blank() {
    while (!end() && blank(s[i])) ++i;
  }
  std::string_view token() {  // up to the next blank or the end
    size_t b = i;
    while (!end() && !blank(s[i])) ++i;
    return s.substr(b, i - b);
  }
  std::string_view take_while(bool (*f)(char)) {
    size_t b = i;
    while (!end() && f(s[i])) ++i;
    return s.substr(b, i - b);
  }
};

struct Parser {
  const Limits& lim;
  const Keep& keep;
  Exposition out;
  std::unordered_set<std::string> helped;   // names with a HELP line
  std::unordered_set<std::string> sampled;  // families with a sample already
  size_t line_no = 0;

  Error err(const std::string& what) const { return Error::msg("line " + std::to_string(line_no) + ": " + what); }

  Result<std::string_view> metric_name(Cursor& c, const char* what) {
    if (!name_start(c.peek())) return err(std::string("invalid ") + what);
    auto n = c.take_while(name_char);
    if (n.size() > lim.max_name) return err(std::string(what) + " longer than " + std::to_string(lim.max_name));
    return n;
  }

  Status comment(Cursor c) {
    ++c.i;  // '#'
    c.skip_blank();
    auto kw = c.token();
    if (kw != "HELP" && kw != "TYPE") return ok();  // a plain comment
    c.skip_blank();
    if (c.end()) return ok();  // "# HELP" alone: not an error (expfmt)
    CATS_TRY_ASSIGN(name, metric_name(c, "metric name in comment"));
    if (!c.end() && !blank(c.peek())) return err("invalid metric name in comment");
    c.skip_blank();
    if (c.end()) return ok();  // a name and no text: not an error (expfmt)
    std::string key(name);
    if (kw == "HELP") {
      // The docstring is not kept; its escapes are still checked: \\ and \n (the
      // specification), \" too (expfmt's readTokenUntilNewline takes it).
      for (size_t k = c.i; k < c.s.size(); ++k) {
        if (c.s[k] != '\\') continue;
        if (k + 1 >= c.s.size() || (c.s[k + 1] != '\\' && c.s[k + 1] != 'n' && c.s[k + 1] != '"'))
          return err("invalid escape sequence in HELP for " + key);
        ++k;
      }
      if (helped.count(key)) return err("second HELP line for " + key);
      if (helped.size() >= lim.max_families) return err("more than " + std::to_string(lim.max_families) + " metric families");
      helped.insert(std::move(key));
      return ok();
    }
    auto t = parse_type(c.s.substr(c.i));
    if (!t) return err("unknown metric type \"" + std::string(c.s.substr(c.i)) + "\" for " + key);
    if (out.types.count(key)) return err("second TYPE line for " + key);
    if (sampled.count(key)) return err("TYPE line for " + key + " after its samples");
    if (out.types.size() >= lim.max_families) return err("more than " + std::to_string(lim.max_families) + " metric families");
    out.types.emplace(std::move(key), *t);
    return ok();
  }

  // A quoted label value (the cursor on the opening quote), unescaped into `v`.
  Status label_value(Cursor& c, std::string& v) {
    if (c.peek() != '"') return err("expected '\"' at the start of a label value");
    ++c.i;
    for (;;) {
      if (c.end()) return err("unterminated label value");
      char ch = c.s[c.i++];
      if (ch == '"') break;
      if (ch == '\\') {
        if (c.end()) return err("unterminated label value");
        char e = c.s[c.i++];
        if (e == '\\' || e == '"') ch = e;
        else if (e == 'n') ch = '\n';
        else return err(std::string("invalid escape sequence '\\") + e + "' in a label value");
      }
      if (v.size() >= lim.max_label_value)
        return err("label value longer than " + std::to_string(lim.max_label_value));
      v.push_back(ch);
    }
    if (!is_utf8(v)) return err("label value is not UTF-8");
    return ok();
  }

  Status sample(Cursor c) {
    if (c.peek() == '{') return err("quoted metric names are not part of format 0.0.4");
    CATS_TRY_ASSIGN(name, metric_name(c, "metric name"));
    if (++out.samples > lim.max_series) return err("more than " + std::to_string(lim.max_series) + " samples");
    Series s;
    s.name = std::string(name);
    Type family_type = out.type_of(name);
    // The family this sample belongs to, for "TYPE after samples" (x for x_bucket of a
    // histogram x, else the name itself).
    std::string family(name);
    if (family_type == Type::histogram || family_type == Type::summary) {
      for (std::string_view suf : {"_bucket", "_sum", "_count"}) {
        if (name.size() > suf.size() && name.substr(name.size() - suf.size()) == suf &&
            out.types.count(std::string(name.substr(0, name.size() - suf.size())))) {
          family = std::string(name.substr(0, name.size() - suf.size()));
          break;
        }
      }
    }
    c.skip_blank();
    if (c.peek() == '{') {
      ++c.i;
      for (;;) {
        c.skip_blank();
        if (c.peek() == '}') {
          ++c.i;
          break;
        }
        if (!alpha(c.peek())) return err("invalid label name for " + s.name);
        auto ln = c.take_while(label_char);
        if (ln.size() > lim.max_name) return err("label name longer than " + std::to_string(lim.max_name));
        if (ln == "__name__") return err("label name \"__name__\" is reserved");
        for (const auto& l : s.labels)
          if (l.name == ln) return err("duplicate label name \"" + std::string(ln) + "\" for " + s.name);
        if (s.labels.size() >= lim.max_labels)
          return err("more than " + std::to_string(lim.max_labels) + " labels for " + s.name);
        c.skip_blank();
        if (c.peek() != '=') return err("expected '=' after label name \"" + std::string(ln) + "\"");
        ++c.i;
        c.skip_blank();
        Label l{std::string(ln), {}};
        CATS_TRY(label_value(c, l.value));
        s.labels.push_back(std::move(l));
        c.skip_blank();
        if (c.peek() == ',') {
          ++c.i;
          continue;
        }
        if (c.peek() != '}') return err("expected ',' or '}' after a label value of " + s.name);
      }
      c.skip_blank();
    } else if (!c.end() && !blank(c.s[c.i - 1])) {
      return err("invalid metric name");  // e.g. "a-b 1": a name char we do not know
    }
    if (c.end()) return err("missing value for " + s.name);
    auto vt = c.token();
    auto v = parse_float(vt);
    if (!v) return err("expected a float as value of " + s.name + ", got \"" + std::string(vt) + "\"");
    s.value = *v;
    c.skip_blank();
    if (!c.end()) {
      auto tt = c.token();
      int64_t ts = 0;
      auto tv = tt;
      if (!tv.empty() && tv[0] == '+') tv.remove_prefix(1);
      auto [p, ec] = std::from_chars(tv.data(), tv.data() + tv.size(), ts);
      if (tv.empty() || ec != std::errc() || p != tv.data() + tv.size() || (tt[0] == '+' && tv[0] == '-'))
        return err("expected an integer timestamp after the value of " + s.name + ", got \"" + std::string(tt) + "\"");
      s.timestamp_ms = ts;
      c.skip_blank();
      if (!c.end()) return err("spurious text after the timestamp of " + s.name);
    }
    // The special labels must hold floats (expfmt refuses the line otherwise).
    if (family_type == Type::histogram && s.name.size() > 7 && s.name.ends_with("_bucket")) {
      auto* le = s.label("le");
      if (!le) return err("histogram bucket " + s.name + " without an \"le\" label");
      if (!parse_float(*le)) return err("expected a float as \"le\" of " + s.name + ", got \"" + *le + "\"");
    }
    if (family_type == Type::summary && out.types.count(s.name)) {
      if (auto* q = s.label("quantile"); q && !parse_float(*q))
        return err("expected a float as \"quantile\" of " + s.name + ", got \"" + *q + "\"");
    }
    if (!sampled.count(family)) {
      if (sampled.size() >= lim.max_series) return err("more than " + std::to_string(lim.max_series) + " samples");
      sampled.insert(std::move(family));
    }
    if (!keep || keep(s.name)) out.series.push_back(std::move(s));
    return ok();
  }
};

}  // namespace

std::string_view to_string(Type t) {
  switch (t) {
    case Type::untyped: return "untyped";
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
    case Type::summary: return "summary";
  }
  return "untyped";
}

const std::string* Series::label(std::string_view n) const {
  for (const auto& l : labels)
    if (l.name == n) return &l.value;
  return nullptr;
}

Type Exposition::type_of(std::string_view name) const {
  if (auto it = types.find(std::string(name)); it != types.end()) return it->second;
  for (std::string_view suf : {"_bucket", "_sum", "_count"}) {
    if (name.size() <= suf.size() || name.substr(name.size() - suf.size()) != suf) continue;
    auto it = types.find(std::string(name.substr(0, name.size() - suf.size())));
    if (it == types.end()) continue;
    if (it->second == Type::histogram) return Type::histogram;
    if (it->second == Type::summary && suf != "_bucket") return Type::summary;
  }
  return Type::untyped;
}

std::optional<double> parse_float(std::string_view s) {
  // expfmt refuses 'p', 'P' and '_' before strconv.ParseFloat (hex floats, digit
  // separators); from_chars(general) takes neither anyway, nor a leading '+'.
  if (s.empty() || s.size() > 64) return std::nullopt;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s[0] == '+' || s[0] == '-') return std::nullopt;
  if (iequals(s, "inf") || iequals(s, "infinity"))
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (iequals(s, "nan")) return std::numeric_limits<double>::quiet_NaN();
  if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  // Out of range (1e999): ParseFloat's ErrRange, which expfmt refuses too.
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return neg ? -v : v;
}

bool is_metric_name(std::string_view s) {
  return !s.empty() && name_start(s[0]) && std::all_of(s.begin(), s.end(), name_char);
}

bool is_label_name(std::string_view s) {
  return !s.empty() && alpha(s[0]) && std::all_of(s.begin(), s.end(), label_char);
}

bool is_utf8(std::string_view s) {
  // RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF.
  size_t i = 0;
  auto cont = [&](size_t k) { return k < s.size() && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80; };
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return false;
    for (size_t k = 1; k <= n; ++k) {
      if (!cont(i + k)) return false;
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

Result<Exposition> parse_text(std::string_view body, const Limits& lim, const Keep& keep) {
  if (body.size() > lim.max_body) return Error::msg("exposition larger than " + std::to_string(lim.max_body) + " bytes");
  Parser p{lim, keep, {}, {}, {}, 0};
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    size_t e = nl == std::string_view::npos ? body.size() : nl;
    std::string_view line = body.substr(pos, e - pos);
    pos = e + 1;
    ++p.line_no;
    if (line.size() > lim.max_line) return p.err("longer than " + std::to_string(lim.max_line) + " bytes");
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    while (!line.empty() && blank(line.back())) line.remove_suffix(1);
    if (line.empty()) continue;
    Cursor c{line, 0};
    if (line[0] == '#') {
      CATS_TRY(p.comment(c));
    } else {
      CATS_TRY(p.sample(c));
    }
  }
  return std::move(p.out);
}

}  // namespace cats::sampler::prom
