// Revisions in SQLite: bootstrap, ETag/409, history and diff, revert, export/import with
// secrets, pending confirmation with an injected clock, and refusals that change nothing.
#include "configdb/configdb.hpp"
#include "fixtures.hpp"

#include <sqlite3.h>

using namespace cats::configdb;
using namespace cats::configdb::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  TempDir dir;
  int64_t now = 1'700'000'000'000;
  ConfigDb db;

  explicit Fixture(ConfigDb::Options opt = {})
      : db(ConfigDb::open(dir.file("cats.db"), [this] { return now; }, opt).value()) {
    REQUIRE(db.bootstrap_from_toml(example_toml(), "cpe.toml").value());
  }
  json::value doc() { return db.current().value().doc; }
};

const Change kAlice{"alice", "192.0.2.10", "test"};

}  // namespace

TEST_CASE("bootstrap: revision 1 from the TOML file, once") {
  Fixture f;
  auto cur = f.db.current().value();
  CHECK(cur.rev == 1);
  CHECK(cur.text == canonical(example_doc()));
  auto r1 = f.db.get(1).value();
  CHECK(r1.change.author == "bootstrap");
  CHECK(r1.change.comment == "imported from cpe.toml");
  CHECK(r1.ts_ms == f.now);
  CHECK(r1.diff != "[]");  // from the empty document: one add per section

  // A second start: nothing imported, the file's state reported.
  CHECK_FALSE(f.db.bootstrap_from_toml(example_toml(), "cpe.toml").value());
  CHECK_FALSE(f.db.toml_changed(example_toml()).value());
  auto edited = example_toml() + "\n# edited\n";
  CHECK(f.db.toml_changed(edited).value());
  CHECK_FALSE(f.db.bootstrap_from_toml(edited, "cpe.toml").value());
  CHECK(f.db.current().value().rev == 1);

  // --reimport: a comment-only edit is the same document (no new revision), but the file is
  // now the imported one.
  CHECK(f.db.reimport(edited, "cpe.toml", {"root", "", "--reimport"}).value() == 1);
  CHECK_FALSE(f.db.toml_changed(edited).value());
  auto changed = example_toml();
  changed.replace(changed.find("interval_ms = 50"), 16, "interval_ms = 60");
  CHECK(f.db.reimport(changed, "cpe.toml", {"root", "", "--reimport"}).value() == 2);
  CHECK(f.db.current().value().doc.at_pointer("/probing/interval_ms") == 60);

  // A broken file is refused with its line and changes nothing.
  auto broken = example_toml();
  broken.replace(broken.find("weight = 1"), 10, "weight = 0");
  auto r = f.db.reimport(broken, "cpe.toml", {"root", "", ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ConfigError::Kind::invalid);
  CHECK(r.error().fields.at(0).message == "cpe.toml:38:10: wan[0].weight: must be in 1..100");
  CHECK(f.db.current().value().rev == 2);
}

TEST_CASE("bootstrap of an invalid file stores nothing") {
  TempDir dir;
  auto db = ConfigDb::open(dir.file("c.db"), [] { return int64_t{1}; }).value();
  auto r = db.bootstrap_from_toml("[cpe]\n", "bad.toml");
  REQUIRE_FALSE(r);
  CHECK(r.error().http_status() == 400);
  CHECK(db.current().value().rev == 0);
  CHECK(db.toml_changed("[cpe]\n").value());
}

TEST_CASE("commit: validation, ETag and 409") {
  Fixture f;
  auto d = f.doc();
  d.at_pointer("/wan/0/weight") = 3;
  CHECK(f.db.commit(1, d, kAlice).value() == 2);
  auto r2 = f.db.get(2).value();
  CHECK(r2.change.author == "alice");
  CHECK(r2.change.peer == "192.0.2.10");
  CHECK(r2.diff == R"([{"op":"replace","path":"/wan/0/weight","value":3}])");

  // Made against revision 1, which is no longer current: 409, nothing written.
  d.at_pointer("/wan/0/weight") = 4;
  auto stale = f.db.commit(1, d, kAlice);
  REQUIRE_FALSE(stale);
  CHECK(stale.error().kind == ConfigError::Kind::conflict);
  CHECK(stale.error().http_status() == 409);
  CHECK(stale.error().current_rev == 2);
  CHECK(f.db.current().value().rev == 2);

  // Invalid: the fields, and nothing written.
  d.at_pointer("/wan/0/weight") = 0;
  auto bad = f.db.commit(2, d, kAlice);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().http_status() == 400);
  CHECK(has(bad.error().fields, "/wan/0/weight", "must be in 1..100"));
  CHECK(f.db.current().value().doc.at_pointer("/wan/0/weight") == 3);

  // The same document again: no new revision.
  CHECK(f.db.commit(2, f.doc(), kAlice).value() == 2);

  CHECK(etag(2) == "\"2\"");
  CHECK(parse_etag("\"17\"") == 17);
  CHECK_FALSE(parse_etag("W/\"17\""));
  CHECK_FALSE(parse_etag("17"));
  CHECK_FALSE(parse_etag("\"1x\""));

  auto long_comment = f.db.commit(2, d, {"a", "", std::string(5000, 'c')});
  REQUIRE_FALSE(long_comment);
  CHECK(has(long_comment.error().fields, "comment", "4096"));
}

TEST_CASE("diff of two revisions (golden) and its text form") {
  Fixture f;
  auto a = f.doc();
  auto b = a;
  b.at_pointer("/probing").as_object()["auth_key"] = kAuthKey;
  b.at_pointer("/probing/interval_ms") = 70;
  b.at_pointer("/reporting").as_object().erase("port");
  b.at_pointer("/service/0/ports").as_array().pop_back();
  b.at_pointer("/service/0/sla").as_object()["capability"] = "gpu";
  REQUIRE(f.db.commit(1, b, kAlice).value() == 2);

  auto p = f.db.diff(1, 2).value();
  CHECK(canonical(to_json(p)) ==
        R"([{"op":"add","path":"/probing/auth_key","value":"<redacted>"},)"
        R"({"op":"replace","path":"/probing/interval_ms","value":70},)"
        R"({"op":"remove","path":"/reporting/port"},)"
        R"({"op":"remove","path":"/service/0/ports/1"},)"
        R"({"op":"add","path":"/service/0/sla/capability","value":"gpu"}])");
  CHECK(diff_text(p) ==
        "+ /probing/auth_key = \"<redacted>\"\n"
        "~ /probing/interval_ms: 50 -> 70\n"
        "- /reporting/port (was 8620)\n"
        "- /service/0/ports/1 (was 443)\n"
        "+ /service/0/sla/capability = \"gpu\"\n");
  // The stored diff is the same, and never holds the secret.
  CHECK(f.db.get(2).value().diff == canonical(to_json(p)));
  // Unredacted, the patch turns a into b exactly (RFC 6902 application).
  CHECK(canonical(cats::configdb::apply(a, diff(a, b)).value()) == canonical(b));
  CHECK(canonical(cats::configdb::apply(b, diff(b, a)).value()) == canonical(a));
  // Reverse direction, by revision.
  auto back = f.db.diff(2, 1).value();
  CHECK(back.size() == 5);
  CHECK_FALSE(f.db.diff(1, 99));
}

TEST_CASE("a whole service added, then removed; arrays of objects diff by index") {
  auto a = example_doc();
  auto b = a;
  auto svc = b.at_pointer("/service/0");
  svc.as_object()["id"] = "app2";
  svc.as_object()["vip"] = "10.255.0.2";
  b.at_pointer("/service").as_array().push_back(svc);
  auto p = diff(a, b);
  REQUIRE(p.size() == 1);
  CHECK(p[0].op == "add");
  CHECK(p[0].path == "/service/1");
  CHECK(validate(b).empty());
  auto q = diff(b, a);
  REQUIRE(q.size() == 1);
  CHECK(q[0].op == "remove");
  // A JSON Patch from a client: parsed, checked, applied.
  auto patch = patch_from_json(json::parse(R"([{"op":"test","path":"/wan/0/name","value":"wan1"},
                                               {"op":"replace","path":"/wan/0/weight","value":9}])"));
  REQUIRE(patch.has_value());
  CHECK(cats::configdb::apply(a, *patch).value().at_pointer("/wan/0/weight") == 9);
  auto failing = patch_from_json(json::parse(R"([{"op":"test","path":"/wan/0/name","value":"x"}])"));
  CHECK_FALSE(cats::configdb::apply(a, failing.value()));
  CHECK_FALSE(patch_from_json(json::parse(R"([{"op":"move","path":"/a","from":"/b"}])")));
  CHECK_FALSE(cats::configdb::apply(a, patch_from_json(json::parse(R"([{"op":"remove","path":"/wan/7"}])")).value()));
}

TEST_CASE("history: list, revert as a new revision, bounded") {
  ConfigDb::Options opt;
  opt.keep = 5;
  Fixture f(opt);
  for (int w = 2; w <= 9; ++w) {
    auto d = f.doc();
    d.at_pointer("/wan/1").as_object()["weight"] = w;
    REQUIRE(f.db.commit(w - 1, d, {"bob", "", "weight " + std::to_string(w)}).value() == w);
  }
  auto all = f.db.list(0, 100).value();
  REQUIRE(all.size() == 5);  // 5..9 kept
  CHECK(all.front().rev == 9);
  CHECK(all.back().rev == 5);
  CHECK(all.front().doc.empty());
  CHECK(all.front().change.comment == "weight 9");
  CHECK(f.db.list(7, 2).value().front().rev == 7);
  auto pruned = f.db.get(1);
  REQUIRE_FALSE(pruned);
  CHECK(pruned.error().http_status() == 404);

  auto rev = f.db.revert(6, {"carol", "", "back to 6"}).value();
  CHECK(rev == 10);
  CHECK(f.db.get(10).value().doc == f.db.get(6).value().doc);
  CHECK(f.db.get(10).value().diff == R"([{"op":"replace","path":"/wan/1/weight","value":6}])");
  CHECK_FALSE(f.db.revert(2, kAlice));  // pruned
}

TEST_CASE("export redacts secrets; import of a redacted export keeps them") {
  Fixture f;
  auto d = f.doc();
  d.at_pointer("/probing").as_object()["auth_key"] = kAuthKey;
  REQUIRE(f.db.commit(1, d, kAlice).value() == 2);

  auto redacted = f.db.export_doc(0, false).value();
  CHECK(redacted.find(kAuthKey) == std::string::npos);
  CHECK(redacted.find("<redacted>") != std::string::npos);
  CHECK(f.db.export_doc(2, true).value().find(kAuthKey) != std::string::npos);
  CHECK(f.db.export_doc(1, false).value().find("<redacted>") == std::string::npos);  // none to hide

  // Edit the redacted export and import it: the secret survives.
  auto edited = json::parse(redacted);
  edited.at_pointer("/wan/0/cost") = 7;
  CHECK(f.db.import_doc(canonical(edited), 2, kAlice).value() == 3);
  auto cur = f.db.current().value();
  CHECK(cur.doc.at_pointer("/probing/auth_key") == kAuthKey);
  CHECK(cur.doc.at_pointer("/wan/0/cost") == 7);

  // A broken import changes nothing.
  auto bad = f.db.import_doc(R"({"cpe":{"name":"x"},"cpe":{}})", 3, kAlice);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ConfigError::Kind::invalid);
  CHECK(bad.error().fields[0].field == "/cpe");
  CHECK_FALSE(f.db.import_doc("{}", 3, kAlice));
  CHECK(f.db.import_doc(redacted, 2, kAlice).error().kind == ConfigError::Kind::conflict);
  CHECK(f.db.current().value().rev == 3);
}

TEST_CASE("pending confirmation: confirm, or expire and revert (injected clock)") {
  Fixture f;
  auto d = f.doc();
  d.at_pointer("/wan/0/weight") = 2;
  REQUIRE(f.db.commit(1, d, kAlice, 60s).value() == 2);
  auto p = f.db.pending().value();
  REQUIRE(p);
  CHECK(*p == Pending{2, 1, f.now + 60000});
  CHECK(f.db.get(2).value().confirm_by_ms == f.now + 60000);

  SECTION("confirmed in time") {
    f.now += 30000;
    CHECK_FALSE(f.db.confirm(1));  // not the pending one
    REQUIRE(f.db.confirm(2));
    CHECK_FALSE(f.db.pending().value());
    CHECK(f.db.get(2).value().confirmed_ms == f.now);
    CHECK_FALSE(f.db.expired(f.now + 3'600'000).value());
    auto again = f.db.confirm(2);
    REQUIRE_FALSE(again);
    CHECK(again.error().http_status() == 409);
  }
  SECTION("a change on top joins the chain; expiry reverts both") {
    d.at_pointer("/wan/1").as_object()["weight"] = 5;
    REQUIRE(f.db.commit(2, d, kAlice).value() == 3);
    CHECK(*f.db.pending().value() == Pending{3, 1, f.now + 60000});
    CHECK_FALSE(f.db.expired(f.now + 59999).value());
    auto e = f.db.expired(f.now + 60000).value();
    REQUIRE(e);
    CHECK(e->base == 1);
    f.now += 60000;
    auto rev = f.db.revert(e->base, {"cats", "", "confirmation of revision 3 expired"}).value();
    CHECK(rev == 4);
    CHECK(f.db.get(4).value().doc == f.db.get(1).value().doc);
    CHECK_FALSE(f.db.pending().value());
    CHECK_FALSE(f.db.get(3).value().confirmed_ms);
  }
  SECTION("a new confirm_within moves the deadline") {
    f.now += 10000;
    d.at_pointer("/wan/1").as_object()["weight"] = 6;
    REQUIRE(f.db.commit(2, d, kAlice, 90s).value() == 3);
    CHECK(*f.db.pending().value() == Pending{3, 1, f.now + 90000});
    REQUIRE(f.db.confirm(3));
    CHECK(f.db.get(2).value().confirmed_ms == f.now);
  }
}

TEST_CASE("a locked database refuses the change and changes nothing") {
  ConfigDb::Options opt;
  opt.busy_timeout_ms = 50;
  Fixture f(opt);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(f.dir.file("cats.db").c_str(), &raw) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  auto d = f.doc();
  d.at_pointer("/wan/0/weight") = 2;
  auto r = f.db.commit(1, d, kAlice);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ConfigError::Kind::storage);
  CHECK(r.error().http_status() == 503);
  CHECK(r.error().message.find("locked") != std::string::npos);
  CHECK_FALSE(f.db.confirm(1));
  sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  CHECK(f.db.current().value().rev == 1);
  CHECK(f.db.commit(1, d, kAlice).value() == 2);  // and works once the lock is gone
}

TEST_CASE("a full disk refuses the change and changes nothing") {
  TempDir dir;
  int64_t pages = 0;
  {
    Fixture f;
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(f.dir.file("cats.db").c_str(), &raw) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(raw, "PRAGMA page_count", -1, &st, nullptr);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    pages = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(raw);
    REQUIRE(pages > 0);
  }
  // The same start again, with the file capped at what the bootstrap needs.
  ConfigDb::Options opt;
  opt.max_page_count = pages + 4;  // room for a small revision, not for 40 KB
  Fixture f(opt);
  auto d = f.doc();
  json::array hosts;
  for (int i = 0; i < 200; ++i) hosts.emplace_back("host" + std::to_string(i) + std::string(200, 'h'));
  d.as_object()["management"] = json::object{{"allowed_hosts", hosts}};
  REQUIRE(validate(d).empty());
  auto r = f.db.commit(1, d, kAlice, 60s);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ConfigError::Kind::storage);
  CHECK(r.error().message.find("full") != std::string::npos);
  CHECK(f.db.current().value().rev == 1);
  CHECK_FALSE(f.db.pending().value());
  CHECK(f.db.list(0, 10).value().size() == 1);
  // A small change still fits.
  auto small = f.doc();
  small.at_pointer("/wan/0/weight") = 2;
  CHECK(f.db.commit(1, small, kAlice).value() == 2);
}

TEST_CASE("a configuration schema newer than this build is refused at open") {
  TempDir dir;
  auto path = dir.file("new.db");
  {
    auto db = ConfigDb::open(path, [] { return int64_t{1}; }).value();
    REQUIRE(db.bootstrap_from_toml(example_toml(), "cpe.toml").value());
  }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "INSERT INTO config_schema_version VALUES (99, 0)", nullptr, nullptr, nullptr) == SQLITE_OK);
  // The store's own schema_version table is a different one: untouched by configdb.
  CHECK(sqlite3_exec(raw, "SELECT * FROM schema_version", nullptr, nullptr, nullptr) != SQLITE_OK);
  sqlite3_close(raw);
  auto newer = ConfigDb::open(path, [] { return int64_t{3}; });
  REQUIRE_FALSE(newer);
  CHECK(newer.error().message.find("newer") != std::string::npos);
}

TEST_CASE("the apply hook: the daemon and the database move as one unit") {
  Fixture f;
  auto d = f.doc();
  d.at_pointer("/wan/0/weight") = 2;
  int64_t seen = 0;
  json::value applied;
  auto failing = [&](int64_t rev, const json::value& doc) -> cats::Status {
    seen = rev;
    applied = doc;
    return cats::fail(cats::Error::msg("nft: No such file or directory"));
  };
  auto r = f.db.commit(1, d, kAlice, std::chrono::seconds(60), failing);
  REQUIRE_FALSE(r);
  CHECK(seen == 2);
  CHECK(applied.at_pointer("/wan/0/weight") == 2);
  CHECK(r.error().http_status() == 500);
  CHECK(r.error().message == "applying revision 2 failed: nft: No such file or directory");
  CHECK(f.db.current().value().rev == 1);
  CHECK_FALSE(f.db.pending().value());
  CHECK_FALSE(f.db.get(2));
  bool called = false;
  auto fine = [&](int64_t, const json::value&) -> cats::Status {
    called = true;
    return cats::ok();
  };
  CHECK(f.db.commit(1, d, kAlice, std::nullopt, fine).value() == 2);
  CHECK(called);
  called = false;
  CHECK(f.db.commit(2, d, kAlice, std::nullopt, fine).value() == 2);  // unchanged: nothing to apply
  CHECK_FALSE(called);
  CHECK(f.db.revert(1, kAlice, std::nullopt, failing).error().kind == ConfigError::Kind::apply);
  CHECK(f.db.current().value().rev == 2);
}

TEST_CASE("revert keeps the stored bytes of floats") {
  Fixture f;
  int64_t rev = 1;
  for (double x : {0.30000000000000004, 12.345678901234567, 99.99999999999999, 1e-300, 33.333333333333336}) {
    auto d = f.doc();
    d.at_pointer("/selection/hysteresis_pct") = x;
    rev = f.db.commit(rev, d, kAlice).value();
    const auto stored = f.db.get(rev).value().doc;
    d.at_pointer("/selection/hysteresis_pct") = 1;
    rev = f.db.commit(rev, d, kAlice).value();
    rev = f.db.revert(rev - 1, kAlice).value();
    CHECK(f.db.get(rev).value().doc == stored);
  }
}
