#include "fixture.hpp"

using namespace cats::auth;
using namespace cats::auth::test;
namespace sd = cats::store::detail;

TEST_CASE("setup: one-time token, only while no admin exists") {
  World w;
  auto a = w.open();
  auto tok = a->setup_token();
  REQUIRE(tok);
  CHECK(tok->size() == 64);
  CHECK(a->setup_token() == tok);  // the same one for the whole process

  CHECK(a->complete_setup("0" + tok->substr(1), "alice", "correct horse battery", "p").error().kind ==
        Fail::unauthorized);
  auto weak = a->complete_setup(*tok, "alice", "short", "p");
  REQUIRE_FALSE(weak);
  CHECK(weak.error().field == "/password");
  CHECK(a->complete_setup(*tok, "alice", "alice", "p").error().kind == Fail::invalid);
  CHECK(a->complete_setup(*tok, "-x", "correct horse battery", "p").error().field == "/user");

  REQUIRE(a->complete_setup(*tok, "alice", "correct horse battery", "p"));
  CHECK_FALSE(a->setup_token());
  // Single use.
  CHECK(a->complete_setup(*tok, "mallory", "correct horse battery", "p").error().kind == Fail::unauthorized);
  CHECK(a->login("alice", "correct horse battery", "p"));
  CHECK(w.count("setup") == 1);
}

TEST_CASE("setup: an admin added through add_user consumes the setup token") {
  World w;
  auto a = w.open();
  auto tok = a->setup_token();  // printed at start, as the setup URL
  REQUIRE(tok);
  // A viewer is not an admin: the token stays.
  REQUIRE(a->add_user(kRoot, "local", "vera", Role::viewer, "veras long password"));
  CHECK(a->setup_token() == tok);

  // `catsctl user add --role admin` on the root socket.
  REQUIRE(a->add_user(kRoot, "local", "bob", Role::admin, "bobs long password"));
  CHECK_FALSE(a->setup_token());
  // The old URL is dead, not merely refused because an admin happens to exist.
  auto late = a->complete_setup(*tok, "mallory", "correct horse battery", "p");
  REQUIRE_FALSE(late);
  CHECK(late.error().kind == Fail::unauthorized);
  CHECK(late.error().message == "invalid or used setup token");
  CHECK(w.count("setup") == 0);
  CHECK_FALSE(a->login("mallory", "correct horse battery", "p"));
  CHECK(a->users()->size() == 2);
}

TEST_CASE("password policy") {
  CHECK(check_password("twelve chars", "u").empty());
  CHECK_FALSE(check_password("eleven char", "u").empty());
  CHECK_FALSE(check_password("same as name", "same as name").empty());
  CHECK(check_password(std::string(1024, 'x'), "u").empty());
  CHECK_FALSE(check_password(std::string(1025, 'x'), "u").empty());
  // Characters, not bytes: 11 two-byte characters are still too short.
  std::string e11;
  for (int i = 0; i < 11; ++i) e11 += "\xc3\xa9";
  CHECK_FALSE(check_password(e11, "u").empty());
  CHECK(check_password(e11 + "\xc3\xa9", "u").empty());
}

TEST_CASE("login: session cookie and CSRF token; wrong password refused") {
  World w;
  auto a = w.open();
  make_admin(*a);
  auto bad = a->login("alice", "wrong password!!", "192.0.2.9");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == Fail::unauthorized);
  CHECK(a->login("nobody", "correct horse battery", "192.0.2.9").error().kind == Fail::unauthorized);

  auto s = a->login("alice", "correct horse battery", "192.0.2.9");
  REQUIRE(s);
  CHECK(s->cookie.size() == 64);
  CHECK(s->csrf.size() == 64);
  CHECK(s->cookie != s->csrf);
  CHECK(s->role == Role::admin);
  CHECK(s->expires_ms == kT0 + 12 * 60 * kMin);
  auto p = a->session(s->cookie, "192.0.2.9");
  REQUIRE(p);
  CHECK(p->user == "alice");
  CHECK(p->csrf == s->csrf);
  CHECK(p->via == Principal::Via::session);
  CHECK_FALSE(a->session(s->cookie + "0", "x"));
  // The cookie value itself is not in the database, only its hash.
  sd::DbPtr raw = *sd::open_db(w.dir.file("state.db"), 0);
  auto st = *sd::prepare(raw.get(), "SELECT count(*) FROM auth_sessions WHERE id_hash = '" + s->cookie + "'");
  REQUIRE(sqlite3_step(st.get()) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st.get(), 0) == 0);

  REQUIRE(a->logout(*p, "192.0.2.9"));
  CHECK_FALSE(a->session(s->cookie, "192.0.2.9"));
  CHECK(w.count("login") == 1);
  CHECK(w.count("login_failed") == 2);
  CHECK(w.count("logout") == 1);
}

TEST_CASE("sessions: idle and absolute expiry follow the injected clock") {
  World w;
  auto a = w.open();
  make_admin(*a);
  auto s = *a->login("alice", "correct horse battery", "p");

  SECTION("idle: used every 29 minutes it lives, 31 minutes unused it dies") {
    for (int i = 0; i < 5; ++i) {
      w.now += 29 * kMin;
      REQUIRE(a->session(s.cookie, "p"));
    }
    w.now += 31 * kMin;
    auto r = a->session(s.cookie, "p");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == Fail::unauthorized);
    w.now -= 31 * kMin;  // gone for good, not just late
    CHECK_FALSE(a->session(s.cookie, "p"));
    CHECK(w.count("session_expired") == 1);
  }
  SECTION("absolute: 12 h after login even when used all along") {
    for (int i = 0; i < 24; ++i) {
      w.now += 29 * kMin;
      REQUIRE(a->session(s.cookie, "p"));
    }
    w.now = kT0 + 12 * 60 * kMin + 1;
    CHECK_FALSE(a->session(s.cookie, "p"));
  }
}

TEST_CASE("sessions: a password change revokes the user's other sessions; revoke all") {
  World w;
  auto a = w.open();
  make_admin(*a);
  auto s1 = *a->login("alice", "correct horse battery", "p1");
  auto s2 = *a->login("alice", "correct horse battery", "p2");
  auto me = *a->session(s1.cookie, "p1");
  REQUIRE(a->set_password(me, "p1", "alice", "a new password 2"));
  CHECK(a->session(s1.cookie, "p1"));
  CHECK_FALSE(a->session(s2.cookie, "p2"));
  CHECK_FALSE(a->login("alice", "correct horse battery", "p1"));
  auto s3 = *a->login("alice", "a new password 2", "p3");
  REQUIRE(a->revoke_sessions(kRoot, "local", "alice"));
  CHECK_FALSE(a->session(s1.cookie, "p1"));
  CHECK_FALSE(a->session(s3.cookie, "p3"));
}

TEST_CASE("sessions: at most max_sessions_per_user, the oldest ends first") {
  World w;
  auto o = w.options();
  o.max_sessions_per_user = 3;
  auto a = w.open(o);
  make_admin(*a);
  std::vector<std::string> cookies;
  for (int i = 0; i < 5; ++i) {
    w.now += 1000;
    cookies.push_back(a->login("alice", "correct horse battery", "p")->cookie);
  }
  CHECK_FALSE(a->session(cookies[0], "p"));
  CHECK_FALSE(a->session(cookies[1], "p"));
  for (int i = 2; i < 5; ++i) CHECK(a->session(cookies[i], "p"));
}

TEST_CASE("rate limit: back-off per peer and per user, checked before the KDF runs") {
  World w;
  auto a = w.open();
  make_admin(*a);
  for (int i = 0; i < 4; ++i) REQUIRE(a->login("alice", "wrong password " + std::to_string(i), "198.51.100.7").error().kind == Fail::unauthorized);
  CHECK(w.count("lockout") == 0);
  CHECK(a->login("alice", "wrong password 4", "198.51.100.7").error().kind == Fail::unauthorized);
  CHECK(w.count("lockout") == 1);

  const int verifies = w.hasher->verifies;
  // Locked: even the right password is refused, and no KDF runs.
  for (int i = 0; i < 100; ++i) {
    auto r = a->login("alice", "correct horse battery", "198.51.100.7");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == Fail::throttled);
    CHECK(r.error().retry_after_s == 1);
  }
  // Per user too: another address guessing alice waits as well.
  CHECK(a->login("alice", "correct horse battery", "203.0.113.1").error().kind == Fail::throttled);
  // And per address: the locked address guessing someone else waits.
  CHECK(a->login("bob", "correct horse battery", "198.51.100.7").error().kind == Fail::throttled);
  CHECK(w.hasher->verifies == verifies);

  w.now += 1000;  // after 1 s, one more failure locks for 2 s
  CHECK(a->login("alice", "wrong password 5", "198.51.100.7").error().kind == Fail::unauthorized);
  auto r = a->login("alice", "correct horse battery", "198.51.100.7");
  CHECK(r.error().retry_after_s == 2);
  w.now += 2000;
  CHECK(a->login("alice", "wrong password 6", "198.51.100.7").error().kind == Fail::unauthorized);
  CHECK(a->login("alice", "x", "198.51.100.7").error().retry_after_s == 4);

  // A success resets both counters.
  w.now += 4000;
  REQUIRE(a->login("alice", "correct horse battery", "198.51.100.7"));
  CHECK(a->login("alice", "wrong again", "198.51.100.7").error().kind == Fail::unauthorized);
  CHECK(a->login("alice", "correct horse battery", "198.51.100.7"));
}

TEST_CASE("rate limit: attempts in flight count, so parallel guesses cannot all slip past the check") {
  World w;
  auto a = w.open();
  make_admin(*a);
  for (int i = 0; i < 4; ++i) (void)a->login("alice", "wrong password " + std::to_string(i), "198.51.100.7");
  std::optional<Res<LoginResult>> parallel;
  // While the 5th guess's KDF runs, a 6th arrives (from another address, same user).
  w.hasher->during_verify = [&] { parallel = a->login("alice", "correct horse battery", "203.0.113.5"); };
  CHECK(a->login("alice", "wrong password 4", "198.51.100.7").error().kind == Fail::unauthorized);
  REQUIRE(parallel);
  REQUIRE_FALSE(parallel->has_value());
  CHECK(parallel->error().kind == Fail::throttled);
}

TEST_CASE("API tokens: role, expiry, revocation, last_used at most once a minute") {
  World w;
  auto a = w.open();
  make_admin(*a);
  auto alice = *a->session(a->login("alice", "correct horse battery", "p")->cookie, "p");
  CHECK(a->create_token(alice, "p", "ci", Role::viewer, kT0).error().field == "/expires_ms");
  CHECK(a->create_token(alice, "p", "ci", Role::viewer, kT0 + 400LL * 24 * 60 * kMin).error().kind == Fail::invalid);
  CHECK(a->create_token(alice, "p", "bad name!", Role::viewer, kT0 + kMin).error().field == "/name");

  auto t = a->create_token(alice, "p", "ci", Role::viewer, kT0 + 60 * kMin);
  REQUIRE(t);
  CHECK(t->secret.rfind("cats_" + t->info.id + "_", 0) == 0);
  auto p = a->bearer(t->secret, "p");
  REQUIRE(p);
  CHECK(p->role == Role::viewer);
  CHECK(p->via == Principal::Via::token);
  CHECK(p->actor() == "token:" + t->info.id + " (alice)");
  CHECK(a->tokens()->at(0).last_used_ms == kT0);

  w.now += 30'000;
  REQUIRE(a->bearer(t->secret, "p"));
  CHECK(a->tokens()->at(0).last_used_ms == kT0);  // not rewritten within the minute
  w.now += 30'000;
  REQUIRE(a->bearer(t->secret, "p"));
  CHECK(a->tokens()->at(0).last_used_ms == kT0 + kMin);

  std::string wrong = t->secret;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  CHECK_FALSE(a->bearer(wrong, "p"));
  CHECK_FALSE(a->bearer("cats_x_y", "p"));

  auto admin_tok = *a->create_token(alice, "p", "deploy", Role::admin, kT0 + 2 * 60 * kMin);
  CHECK(a->bearer(admin_tok.secret, "p")->role == Role::admin);
  REQUIRE(a->revoke_token(alice, "p", admin_tok.info.id));
  CHECK(a->bearer(admin_tok.secret, "p").error().message == "API token revoked");
  CHECK(a->revoke_token(alice, "p", admin_tok.info.id).error().kind == Fail::not_found);

  w.now = kT0 + 60 * kMin;
  CHECK(a->bearer(t->secret, "p").error().message == "API token expired");
}

TEST_CASE("users: add, list, delete; the last admin stays") {
  World w;
  auto a = w.open();
  make_admin(*a);
  REQUIRE(a->add_user(kRoot, "local", "bob", Role::viewer, "bobs long password"));
  CHECK(a->add_user(kRoot, "local", "bob", Role::viewer, "bobs long password").error().kind == Fail::conflict);
  auto list = *a->users();
  REQUIRE(list.size() == 2);
  CHECK(list[1].name == "bob");
  CHECK(list[1].role == Role::viewer);
  auto bob = *a->login("bob", "bobs long password", "p");
  CHECK(a->delete_user(kRoot, "local", "alice").error().kind == Fail::conflict);
  REQUIRE(a->delete_user(kRoot, "local", "bob"));
  CHECK_FALSE(a->session(bob.cookie, "p"));
  CHECK(a->delete_user(kRoot, "local", "bob").error().kind == Fail::not_found);
}

TEST_CASE("audit: bounded to the newest rows, queryable by time") {
  World w;
  auto o = w.options();
  o.audit_max_rows = 5;
  auto a = w.open(o);
  for (int i = 0; i < 12; ++i) {
    w.now = kT0 + i;
    REQUIRE(a->record(AuditEntry{0, 0, "root", "local", "config_apply", "rev " + std::to_string(i), "{}"}));
  }
  auto all = *a->audit(0, INT64_MAX, 100);
  REQUIRE(all.size() == 5);
  CHECK(all.front().subject == "rev 11");
  CHECK(all.back().subject == "rev 7");
  auto some = *a->audit(kT0 + 8, kT0 + 9, 100);
  REQUIRE(some.size() == 2);
  CHECK(a->audit(0, INT64_MAX, 2)->size() == 2);
  CHECK(w.count("config_apply") == 12);
}

TEST_CASE("persistence: users, sessions, tokens and audit survive a reopen") {
  World w;
  std::string cookie, token;
  {
    auto a = w.open();
    make_admin(*a);
    cookie = a->login("alice", "correct horse battery", "p")->cookie;
    token = a->create_token(kRoot, "local", "ci", Role::viewer, kT0 + 60 * kMin)->secret;
  }
  auto a = w.open();
  CHECK_FALSE(a->setup_token());  // an admin exists: no new setup token
  CHECK(a->session(cookie, "p")->user == "alice");
  CHECK(a->bearer(token, "p")->role == Role::viewer);
  CHECK(a->login("alice", "correct horse battery", "p"));
  CHECK(a->audit(0, INT64_MAX, 100)->size() >= 3);
  // Our own version table; common/store's schema_version is left alone.
  sd::DbPtr raw = *sd::open_db(w.dir.file("state.db"), 0);
  CHECK(*sd::schema_version(raw.get(), "auth_schema_version") == 1);
  CHECK(*sd::schema_version(raw.get()) == 0);
}

TEST_CASE("a locked database refuses writes with an error and changes nothing") {
  World w;
  auto o = w.options();
  o.busy_timeout_ms = 10;
  auto a = w.open(o);
  make_admin(*a);
  auto before = a->audit(0, INT64_MAX, 1000)->size();
  sd::DbPtr raw = *sd::open_db(w.dir.file("state.db"), 0);
  REQUIRE(sd::exec(raw.get(), "BEGIN EXCLUSIVE"));
  auto r = a->add_user(kRoot, "local", "bob", Role::viewer, "bobs long password");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == Fail::storage);
  auto l = a->login("alice", "correct horse battery", "p");
  REQUIRE_FALSE(l);
  CHECK(l.error().kind == Fail::storage);
  REQUIRE(sd::exec(raw.get(), "ROLLBACK"));
  CHECK(a->users()->size() == 1);
  CHECK(a->audit(0, INT64_MAX, 1000)->size() == before);
  CHECK(a->add_user(kRoot, "local", "bob", Role::viewer, "bobs long password"));
}

TEST_CASE("no secret in events, audit rows or log lines") {
  World w;
  StderrCapture cap;
  std::vector<std::string> secrets;
  {
    auto a = w.open();
    auto tok = *a->setup_token();
    secrets.push_back(tok);
    REQUIRE(a->complete_setup(tok, "alice", "correct horse battery", "p"));
    secrets.push_back("correct horse battery");
    // A password typed into the name field must not be echoed either.
    (void)a->login("my secret pass phrase", "alice", "p");
    secrets.push_back("my secret pass phrase");
    auto s = *a->login("alice", "correct horse battery", "p");
    secrets.push_back(s.cookie);
    secrets.push_back(s.csrf);
    auto t = *a->create_token(kRoot, "local", "ci", Role::admin, kT0 + kMin);
    secrets.push_back(t.secret.substr(t.secret.rfind('_') + 1));
    REQUIRE(a->set_password(kRoot, "local", "alice", "another secret pw"));
    secrets.push_back("another secret pw");
    for (const auto& u : *a->users()) secrets.push_back(u.password_hash);
    for (const auto& e : *a->audit(0, INT64_MAX, 1000))
      for (const auto& s2 : secrets)
        CHECK((e.actor + e.peer + e.action + e.subject + e.detail).find(s2) == std::string::npos);
  }
  std::string log = cap.text();
  CHECK(log.find("login_failed") != std::string::npos);  // the capture works
  for (const auto& s : secrets) CHECK(log.find(s) == std::string::npos);
  for (const auto& e : w.events)
    for (const auto& s : secrets) CHECK((e.subject + e.detail + e.actor).find(s) == std::string::npos);
}
