// The control API's read side over the services' Shared state: GET /api/v1/paths and
// /instances (now, or history from the store with ?history=1), /stream, /reports, /plans
// and /events. Runs on the API servers' threads, taking Shared's locks.
#include "cpe/cnma_impl.hpp"

#include "base/clock.hpp"
#include "base/hex.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

namespace cats::cpe {

namespace json = boost::json;

namespace {

constexpr size_t kHistoryLimit = 10000;       // rows per history reply
constexpr int64_t kDefaultHistoryMs = 3600'000;

std::optional<int64_t> parse_i64(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string q(const api::Request& r, const char* key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? std::string() : it->second;
}

// GET /api/v1/plans (docs/API.md): per vCPE, the plan and its sync state; "since_ms" is
// how long it has been in that state (pending since, in sync since).
json::object plans_json(const std::vector<report::PlanStatus>& plans, SteadyClock::time_point now) {
  json::array out;
  for (const auto& p : plans) {
    json::array inst, refused;
    for (const auto& i : p.instances) {
      json::object o{{"service", i.service_id}, {"instance", i.instance_id}, {"address", endpoint_to_string(i.address)}};
      // The load source the plan carries (only when the configuration names one).
      if (!i.load_url.empty()) o["load_url"] = i.load_url;
      if (!i.prometheus.empty()) {
        json::array prom;
        for (const auto& s : i.prometheus) prom.push_back(json::object{{"url", s.url}, {"preset", s.preset}});
        o["prometheus"] = std::move(prom);
      }
      inst.push_back(std::move(o));
    }
    for (const auto& f : p.refused)
      refused.push_back(json::object{{"service", f.service_id}, {"instance", f.instance_id},
                                     {"reason", std::string(report::to_string(f.reason))}});
    json::object o{{"vcpe", p.vcpe},
                   {"state", std::string(report::to_string(p.state))},
                   {"revision", p.revision},
                   {"digest", hex_bytes(p.digest)},
                   {"since_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now - p.since).count()},
                   {"instances", std::move(inst)},
                   {"sent", p.sent},
                   {"acked_revision", p.state == report::SyncState::in_sync ? json::value(p.acked_revision) : nullptr},
                   {"applied", p.applied},
                   {"refused", std::move(refused)},
                   {"stale_acks", p.stale_acks},
                   {"error", p.error}};
    out.push_back(std::move(o));
  }
  return json::object{{"vcpes", std::move(out)}};
}

}  // namespace

void add_state_routes(api::Router& router, const std::shared_ptr<Shared>& sh, const config::CpeConfig& cfg) {
  struct Names {
    std::vector<std::pair<std::string, std::string>> paths;  // (wan, vcpe)
    std::vector<VcpeSeq> vcpes;
  };
  auto names = std::make_shared<Names>();
  for (const auto& w : cfg.wans)
    for (const auto& v : cfg.vcpes) names->paths.emplace_back(w.name, v.name);
  for (const auto& v : cfg.vcpes) names->vcpes.push_back({v.name, v.address.to_string(), std::nullopt});

  // [from, to] in unix ms; default the last hour. Returns an error message when invalid.
  auto range = [sh](const api::Request& r, int64_t& from, int64_t& to) -> std::optional<std::string> {
    to = unix_ms(sh->wall());
    from = to - kDefaultHistoryMs;
    if (auto s = q(r, "from"); !s.empty()) {
      auto v = parse_i64(s);
      if (!v) return "from: expected unix milliseconds";
      from = *v;
    }
    if (auto s = q(r, "to"); !s.empty()) {
      auto v = parse_i64(s);
      if (!v) return "to: expected unix milliseconds";
      to = *v;
    }
    if (from > to) return "from is after to";
    return std::nullopt;
  };
  auto no_store = [] { return api::Response::error(503, "no history: the store is not open"); };
  // ?points=N (1..store::kMaxPoints): 0 when absent (raw rows, as before points existed).
  auto points = [](const api::Request& r, int64_t& n) -> std::optional<std::string> {
    n = 0;
    auto s = q(r, "points");
    if (s.empty()) return std::nullopt;
    auto v = parse_i64(s);
    if (!v || *v < 1 || *v > store::kMaxPoints) return "points: expected 1.." + std::to_string(store::kMaxPoints);
    n = *v;
    return std::nullopt;
  };

  router.add("GET", "/api/v1/paths", [sh, names, range, points, no_store](const api::Request& r) {
    if (q(r, "history") != "1") {
      std::lock_guard lk(sh->mu);
      return api::Response::json(paths_json(sh->paths));
    }
    int64_t from = 0, to = 0, n = 0;
    if (auto e = range(r, from, to)) return api::Response::error(400, *e);
    if (auto e = points(r, n)) return api::Response::error(400, *e);
    std::string wan = q(r, "wan"), vcpe = q(r, "vcpe");
    std::vector<store::PathSample> rows;
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return no_store();
    if (n > 0) {
      std::vector<store::PathBucket> buckets;
      for (const auto& [w, v] : names->paths) {
        if ((!wan.empty() && w != wan) || (!vcpe.empty() && v != vcpe)) continue;
        if (buckets.size() >= kHistoryLimit) break;  // whole series only, as for raw rows
        auto h = sh->store->path_buckets(w, v, from, to, n);
        if (!h) return api::Response::error(400, h.error().message);
        buckets.insert(buckets.end(), h->begin(), h->end());
      }
      return api::Response::json(path_buckets_json(buckets));
    }
    for (const auto& [w, v] : names->paths) {
      if ((!wan.empty() && w != wan) || (!vcpe.empty() && v != vcpe)) continue;
      if (rows.size() >= kHistoryLimit) break;
      auto h = sh->store->path_history(w, v, from, to, kHistoryLimit - rows.size());
      if (!h) return api::Response::error(500, h.error().message);
      rows.insert(rows.end(), h->begin(), h->end());
    }
    return api::Response::json(path_history_json(rows));
  });

  router.add("GET", "/api/v1/instances", [sh, range, points, no_store](const api::Request& r) {
    if (q(r, "history") != "1") {
      std::lock_guard lk(sh->mu);
      return api::Response::json(instances_json(sh->damped_entries(), sh->mono()));
    }
    int64_t from = 0, to = 0, n = 0;
    if (auto e = range(r, from, to)) return api::Response::error(400, *e);
    if (auto e = points(r, n)) return api::Response::error(400, *e);
    std::string vcpe = q(r, "vcpe"), service = q(r, "service"), instance = q(r, "instance");
    // Unfiltered fields span the instances the table knows now.
    std::vector<report::InstanceKey> keys;
    if (!vcpe.empty() && !service.empty() && !instance.empty()) {
      keys.push_back({vcpe, service, instance});
    } else {
      std::lock_guard lk(sh->mu);
      for (const auto& [k, st] : sh->collector.table().entries())
        if ((vcpe.empty() || k.vcpe_id == vcpe) && (service.empty() || k.service_id == service) &&
            (instance.empty() || k.instance_id == instance))
          keys.push_back(k);
    }
    std::vector<store::InstanceSample> rows;
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return no_store();
    if (n > 0) {
      std::vector<store::InstanceBucket> buckets;
      for (const auto& k : keys) {
        if (buckets.size() >= kHistoryLimit) break;
        auto h = sh->store->instance_buckets(k.vcpe_id, k.service_id, k.instance_id, from, to, n);
        if (!h) return api::Response::error(400, h.error().message);
        buckets.insert(buckets.end(), h->begin(), h->end());
      }
      return api::Response::json(instance_buckets_json(buckets));
    }
    for (const auto& k : keys) {
      if (rows.size() >= kHistoryLimit) break;
      auto h = sh->store->instance_history(k.vcpe_id, k.service_id, k.instance_id, from, to,
                                           kHistoryLimit - rows.size());
      if (!h) return api::Response::error(500, h.error().message);
      rows.insert(rows.end(), h->begin(), h->end());
    }
    return api::Response::json(instance_history_json(rows));
  });

  // Server-Sent Events (api/sse.hpp). Last-Event-ID as the header (what EventSource sends
  // on a reconnect) or ?last_event_id= for clients that cannot set headers.
  router.add("GET", "/api/v1/stream", [sh](const api::Request& r) {
    auto topics = api::sse::parse_topics(q(r, "topics"));
    if (!topics) return api::Response::error(400, topics.error().message);
    std::optional<uint64_t> last;
    std::string id = r.header("last-event-id");
    if (id.empty()) id = q(r, "last_event_id");
    if (!id.empty()) {
      auto v = api::sse::parse_last_event_id(id);
      if (!v) return api::Response::error(400, v.error().message);
      last = *v;
    }
    auto sub = sh->hub->subscribe(std::move(*topics), last);
    if (!sub)
      return api::Response::error(503, "too many event streams open (at most " +
                                           std::to_string(sh->hub->options().max_streams) + ")");
    return api::Response::streamed(std::move(sub), "text/event-stream");
  });

  router.add("GET", "/api/v1/reports", [sh, names](const api::Request&) {
    std::lock_guard lk(sh->mu);
    std::array<uint64_t, report::kVerdictCount> c{};
    for (size_t i = 0; i < c.size(); ++i) c[i] = sh->collector.count(static_cast<report::Verdict>(i));
    auto vs = names->vcpes;
    for (auto& v : vs) v.last_seq = sh->collector.last_seq(v.vcpe);
    return api::Response::json(reports_json(c, vs));
  });

  // Issue 9: per vCPE, the sampling plan this CPE sends it and whether the vCPE applies
  // exactly that plan (report/plan_sync.hpp).
  router.add("GET", "/api/v1/plans", [sh](const api::Request&) {
    std::lock_guard lk(sh->mu);
    return api::Response::json(plans_json(sh->plans.status(), sh->mono()));
  });

  // Filtered in SQL (store::EventQuery): a page asking for one path's events reads those only.
  router.add("GET", "/api/v1/events", [sh](const api::Request& r) {
    store::EventQuery eq;
    if (auto bad = event_query(r.query, unix_ms(sh->wall()), eq))
      return api::Response::error(400, "invalid", bad->field + ": " + bad->message, {*bad});
    {
      std::lock_guard lk(sh->store_mu);
      if (sh->store) {
        auto ev = sh->store->events(eq);
        if (!ev) return api::Response::error(500, ev.error().message);
        return api::Response::json(events_json(*ev));
      }
    }
    // Without a store: the recent events kept in memory, through the same filter.
    std::vector<store::Event> out;
    std::lock_guard lk(sh->mu);
    for (const auto& e : sh->ring)
      if (store::matches(eq, e)) out.push_back(e);
    out = store::newest_per_bucket(eq, out);
    const size_t n = std::min(out.size(), eq.limit);
    if (eq.newest) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
    else out.resize(n);
    return api::Response::json(events_json(out));
  });
}

}  // namespace cats::cpe
