// Property: any sequence of valid changes, then a revert to revision 1, gives revision 1's
// document byte for byte. The changes are random (seeded, so a failure replays): numbers
// edited within range, services added, removed and renamed, and reverts to random
// earlier revisions along the way.
#include "configdb/configdb.hpp"
#include "fixtures.hpp"

#include <random>

using namespace cats::configdb;
using namespace cats::configdb::test;
namespace json = boost::json;

namespace {

struct Walker {
  std::mt19937_64 rng;
  int next_id = 0;

  int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

  // One valid change of `d`; returns its name (for the failure message).
  std::string step(json::value& d) {
    auto& services = d.at("service").as_array();
    switch (pick(0, 6)) {
      case 0:
        d.at_pointer("/probing/hold_down") = pick(1, 1000);
        return "hold_down";
      case 1:
        d.at_pointer("/wan/" + std::to_string(pick(0, 1))).as_object()["weight"] = pick(1, 100);
        return "wan weight";
      case 2:
        d.at_pointer("/selection/hysteresis_pct") = static_cast<double>(pick(0, 1000)) / 10.0;
        return "hysteresis";
      case 3: {
        if (services.size() >= 20) return "(full)";
        json::object s{{"id", "svc" + std::to_string(next_id)},
                       {"vip", "10.254." + std::to_string(next_id / 200) + "." + std::to_string(next_id % 200 + 1)},
                       {"ports", json::array{pick(1, 65535)}},
                       {"spread_pct", static_cast<double>(pick(0, 400)) / 4.0},
                       {"instance", json::array{json::object{{"vcpe", pick(0, 1) ? "cloud1" : "cloud2"},
                                                             {"address", "10.2.1.1:" + std::to_string(pick(1, 65535))}}}}};
        if (s["instance"].as_array()[0].at("vcpe") == "cloud2")
          s["instance"].as_array()[0].as_object()["address"] = "10.2.2.1:" + std::to_string(pick(1, 65535));
        ++next_id;
        services.push_back(std::move(s));
        return "add service";
      }
      case 4:
        if (services.empty()) return "(none)";
        services.erase(services.begin() + pick(0, static_cast<int64_t>(services.size()) - 1));
        return "remove service";
      case 5:
        if (services.empty()) return "(none)";
        services[static_cast<size_t>(pick(0, static_cast<int64_t>(services.size()) - 1))].as_object()["id"] =
            "renamed" + std::to_string(next_id++);
        return "rename service";
      default:
        d.at_pointer("/vcpe/0/keepalive") = pick(0, 3600);
        return "keepalive";
    }
  }
};

}  // namespace

TEST_CASE("property: random valid changes, then revert to 1, give revision 1 byte for byte") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    TempDir dir;
    int64_t now = 1000;
    auto db = ConfigDb::open(dir.file("p.db"), [&] { return now++; }).value();
    REQUIRE(db.bootstrap_from_toml(example_toml(), "cpe.toml").value());
    const std::string first = db.get(1).value().doc;
    Walker w{std::mt19937_64(seed)};
    for (int i = 0; i < 200; ++i) {
      auto cur = db.current().value();
      if (w.pick(0, 19) == 0 && cur.rev > 1) {
        REQUIRE(db.revert(w.pick(1, cur.rev), {"prop", "", "random revert"}));
        continue;
      }
      auto d = cur.doc;
      auto what = w.step(d);
      INFO("step " << i << ": " << what << "\n" << dump(validate(d)));
      auto r = db.commit(cur.rev, d, {"prop", "", what});
      REQUIRE(r);
      CHECK(db.current().value().text == canonical(d));
      // The stored diff replays the change (secrets aside; this document has none).
      if (*r != cur.rev) {
        auto stored = patch_from_json(json::parse(db.get(*r).value().diff)).value();
        CHECK(canonical(cats::configdb::apply(cur.doc, stored).value()) == canonical(d));
      }
    }
    auto rev = db.revert(1, {"prop", "", "back to 1"}).value();
    CHECK(db.get(rev).value().doc == first);
    CHECK(db.current().value().text == first);
    CHECK(db.export_doc(0, true).value() == pretty(json::parse(first)));
  }
}
