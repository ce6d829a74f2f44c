// Reading the dynamic part of table inet cats back from the kernel (libnftables JSON,
// libnftables-json(5)) and mapping it onto a State's structure (programmer.hpp "adopt").
#include "steer/steer.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>

namespace cats::steer {
namespace {

namespace json = boost::json;

Error bad(const std::string& what) { return Error::msg("nft JSON: " + what); }

// A JSON integer in 0..2^32-1.
std::optional<uint32_t> as_u32(const json::value& v) {
  if (v.is_int64()) {
    auto n = v.get_int64();
    if (n >= 0 && n <= std::numeric_limits<uint32_t>::max()) return static_cast<uint32_t>(n);
  } else if (v.is_uint64()) {
    auto n = v.get_uint64();
    if (n <= std::numeric_limits<uint32_t>::max()) return static_cast<uint32_t>(n);
  }
  return std::nullopt;
}

}  // namespace

namespace {

// The elements of one map (w_* or moved) into `d`.
Status read_map(const json::object& m, const std::string& name, Dynamic& d) {
  const bool weights = name.rfind("w_", 0) == 0;
  if (weights) d.weights[name];  // present even when empty (reject mode)
  const auto* elems = m.if_contains("elem");
  if (!elems) return ok();
  if (!elems->is_array()) return fail(bad("map " + name + ": elem is not an array"));
  for (auto& e : elems->get_array()) {
    const auto* pair = e.if_array();
    if (!pair || pair->size() != 2) return fail(bad("map " + name + ": element is not a [key, value] pair"));
    auto value = as_u32((*pair)[1]);
    if (!value) return fail(bad("map " + name + ": value is not a 32-bit number"));
    auto& key = (*pair)[0];
    if (!weights) {
      auto k = as_u32(key);
      if (!k) return fail(bad("map moved: key is not a 32-bit number"));
      d.moved[*k] = *value;
      continue;
    }
    WeightElement w;
    w.mark = *value;
    if (auto single = as_u32(key)) {
      w.lo = w.hi = *single;
    } else {
      const auto* ko = key.if_object();
      const json::value* r = ko ? ko->if_contains("range") : nullptr;
      const auto* ra = r ? r->if_array() : nullptr;
      auto lo = ra && ra->size() == 2 ? as_u32((*ra)[0]) : std::nullopt;
      auto hi = ra && ra->size() == 2 ? as_u32((*ra)[1]) : std::nullopt;
      if (!lo || !hi || *lo > *hi) return fail(bad("map " + name + ": key is neither a number nor a range"));
      w.lo = *lo;
      w.hi = *hi;
    }
    d.weights[name].push_back(w);
  }
  return ok();
}

// The elements of the dead set into `d`.
Status read_dead(const json::object& m, Dynamic& d) {
  const auto* elems = m.if_contains("elem");
  if (!elems) return ok();
  if (!elems->is_array()) return fail(bad("set dead: elem is not an array"));
  for (auto& e : elems->get_array()) {
    auto mark = as_u32(e);
    if (!mark) return fail(bad("set dead: element is not a 32-bit number"));
    d.dead.insert(*mark);
  }
  return ok();
}

}  // namespace

namespace {

// Calls read(document) for each whitespace-separated JSON document of `text`.
template <class Read>
Status for_each_document(std::string_view text, Read read) {
  json::stream_parser p;
  size_t at = 0, documents = 0;
  auto skip_space = [&] {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t' || text[at] == '\r')) ++at;
  };
  for (skip_space(); at < text.size(); skip_space()) {
    // write_some stops after one complete value: libnftables prints one document per command.
    boost::system::error_code ec;
    at += p.write_some(text.data() + at, text.size() - at, ec);
    if (!ec && !p.done()) p.finish(ec);
    if (ec) return fail(bad(ec.message()));
    CATS_TRY(read(p.release()));
    p.reset();
    ++documents;
  }
  if (documents == 0) return fail(bad("empty"));
  return ok();
}

// The map or set objects of table cats in one document: fn(kind "map"/"set", name, object).
template <class Fn>
Status for_each_of_ours(const json::value& root, Fn fn) {
  const auto* top = root.if_object();
  const json::value* list = top ? top->if_contains("nftables") : nullptr;
  if (!list || !list->is_array()) return fail(bad("no \"nftables\" array"));
  for (auto& item : list->get_array()) {
    const auto* obj = item.if_object();
    if (!obj) continue;
    const json::value* mv = obj->if_contains("map");
    const bool is_set = !mv;
    if (is_set) mv = obj->if_contains("set");
    if (!mv || !mv->is_object()) continue;  // metainfo, table, chains, rules
    auto& m = mv->get_object();
    const char* kind = is_set ? "set" : "map";
    const auto* name_v = m.if_contains("name");
    if (!name_v || !name_v->is_string()) return fail(bad(std::string(kind) + " without a name"));
    const auto* table_v = m.if_contains("table");
    if (table_v && (!table_v->is_string() || table_v->get_string() != kNftTable)) continue;  // another table
    CATS_TRY(fn(std::string_view(kind), std::string(name_v->get_string()), m));
  }
  return ok();
}

// One libnftables JSON document ({"nftables": [...]}) into `d`.
Status read_document(const json::value& root, Dynamic& d) {
  return for_each_of_ours(root, [&](std::string_view kind, const std::string& name, const json::object& m) {
    if (kind == "set") return name == "dead" ? read_dead(m, d) : ok();
    if (name == "moved" || name.rfind("w_", 0) == 0) return read_map(m, name, d);
    return ok();  // targets, sticky maps: not dynamic state
  });
}

}  // namespace

Result<Dynamic> parse_dynamic_json(std::string_view text) {
  Dynamic d;
  CATS_TRY(for_each_document(text, [&](const json::value& doc) { return read_document(doc, d); }));
  for (auto& [name, els] : d.weights)
    std::sort(els.begin(), els.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
  return d;
}

Result<Assignment> parse_assignment_json(std::string_view text) {
  std::map<std::string, std::vector<uint32_t>> marks;             // service -> its c_ set
  std::map<uint32_t, std::pair<IpAddress, uint16_t>> target;      // mark -> instance
  auto read = [&](std::string_view kind, const std::string& name, const json::object& m) -> Status {
    const auto* elems = m.if_contains("elem");
    const bool ids = kind == "set" && name.rfind("c_", 0) == 0;
    const bool targets = kind == "map" && (name == "targets" || name == "targets6");
    if (ids) marks[name.substr(2)];  // present even if empty
    if ((!ids && !targets) || !elems) return ok();
    if (!elems->is_array()) return fail(bad(std::string(kind) + " " + name + ": elem is not an array"));
    for (auto& e : elems->get_array()) {
      if (ids) {
        auto mark = as_u32(e);
        if (!mark) return fail(bad("set " + name + ": element is not a 32-bit number"));
        marks[name.substr(2)].push_back(*mark);
        continue;
      }
      // [mark, {"concat": ["10.2.1.10", 8080]}]
      const auto* pair = e.if_array();
      auto mark = pair && pair->size() == 2 ? as_u32((*pair)[0]) : std::nullopt;
      const auto* v = pair && pair->size() == 2 ? (*pair)[1].if_object() : nullptr;
      const auto* cat = v ? v->if_contains("concat") : nullptr;
      const auto* ca = cat ? cat->if_array() : nullptr;
      std::optional<IpAddress> addr;
      if (ca && ca->size() == 2 && (*ca)[0].is_string())
        if (auto a = parse_address((*ca)[0].get_string())) addr = *a;
      const uint32_t port = ca && ca->size() == 2 ? as_u32((*ca)[1]).value_or(0) : 0;
      if (!mark || !addr || port == 0 || port > 65535)
        return fail(bad("map " + name + ": element is not [mark, {\"concat\": [address, port]}]"));
      target[*mark] = {*addr, static_cast<uint16_t>(port)};
    }
    return ok();
  };
  CATS_TRY(for_each_document(text, [&](const json::value& doc) { return for_each_of_ours(doc, read); }));
  Assignment out;
  for (const auto& [service, ms] : marks)
    for (auto mark : ms) {
      auto t = target.find(mark);
      if (t == target.end()) return bad("set c_" + service + ": mark " + std::to_string(mark) + " has no target");
      out[{service, t->second.first, t->second.second, path_of(mark)}] =
          candidate_id_of(mark);
    }
  return out;
}

std::string table_content(std::string_view listing) {
  // nft prints a map's or set's elements as one "elements = { ... }" statement, wrapped
  // over lines when long; element values hold no braces of their own, but count them
  // anyway so that a brace in an element can never end the skip early.
  std::string out;
  out.reserve(listing.size());
  size_t at = 0;
  while (at < listing.size()) {
    const auto e = listing.find("elements = {", at);
    if (e == std::string_view::npos) {
      out.append(listing.substr(at));
      break;
    }
    out.append(listing.substr(at, e - at));
    // The whole line goes (its indentation and newline too), so a map that has elements
    // and one that has none list the same.
    while (!out.empty() && (out.back() == '\t' || out.back() == ' ')) out.pop_back();
    size_t i = e + std::string_view("elements = ").size();
    int depth = 0;
    for (; i < listing.size(); ++i) {
      if (listing[i] == '{') ++depth;
      if (listing[i] == '}' && --depth == 0) break;
    }
    at = i < listing.size() ? i + 1 : i;
    if (at < listing.size() && listing[at] == '\n') ++at;
  }
  return out;
}

std::optional<State> state_from_dynamic(const State& structure, const Dynamic& live) {
  State s = structure;
  std::map<uint32_t, Candidate*> by_mark;
  const auto marks = candidate_marks(s);
  for (size_t n = 0; n < s.services.size(); ++n)
    for (size_t k = 0; k < marks[n].size(); ++k) {
      auto& c = s.services[n].candidates[k];
      c.weight = 0;
      c.health = Health::ok;
      by_mark[marks[n][k]] = &c;
    }
  for (auto& sv : s.services) {
    auto w = live.weights.find("w_" + sv.id);
    if (w == live.weights.end()) return std::nullopt;
    uint32_t next_lo = 0;
    for (auto& e : w->second) {
      // Ranges must tile 0..999 from 0 without gaps or overlaps, as plan() writes them.
      if (e.lo != next_lo || e.hi < e.lo || e.hi >= kWeightTotal) return std::nullopt;
      next_lo = e.hi + 1;
      auto c = by_mark.find(e.mark);
      if (c == by_mark.end()) return std::nullopt;
      // The mark must belong to this service's candidates.
      if (c->second < sv.candidates.data() || c->second >= sv.candidates.data() + sv.candidates.size())
        return std::nullopt;
      c->second->weight += e.hi - e.lo + 1;
    }
  }
  for (auto [from, to] : live.moved) {
    auto c = by_mark.find(from);
    if (c == by_mark.end() || !by_mark.count(to)) return std::nullopt;
    c->second->health = Health::path_down;
  }
  for (auto mark : live.dead) {
    auto c = by_mark.find(mark);
    if (c == by_mark.end() || c->second->health != Health::ok) return std::nullopt;  // unknown, or also moved
    c->second->health = Health::unreachable;
  }
  if (!validate(s)) return std::nullopt;
  return s;
}

}  // namespace cats::steer
