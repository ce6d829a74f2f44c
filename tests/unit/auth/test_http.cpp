// The guard and the routes through api::Router::dispatch, as a server would run them.
#include "fixture.hpp"

#include "api/offload.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace cats::auth;
using namespace cats::auth::test;
namespace api = cats::api;
namespace json = boost::json;

namespace {

constexpr const char* kHost = "cpe.example:8443";
constexpr const char* kOrigin = "https://cpe.example:8443";

struct Http {
  World w;
  std::unique_ptr<Auth> auth = w.open();
  api::Offload kdf{"test-kdf"};  // after auth: goes first
  api::Router router;
  std::vector<std::string> bodies;  // every answer, for the secrets check

  explicit Http(HttpOptions o = {{"/index.html", "/ui/"}, {kHost}, true, {}}) {
    add_routes(router, *auth, kdf);
    router.add("GET", "/index.html", [](const api::Request&) { return api::Response::text("<html>", "text/html"); });
    router.add("GET", "/ui/app.js", [](const api::Request&) { return api::Response::text("//", "text/javascript"); });
    router.add("GET", "/uix", [](const api::Request&) { return api::Response::text("//", "text/plain"); });
    router.add("POST", "/api/v1/config", [](const api::Request&) {
      const Principal* p = current_principal();
      return api::Response::json(json::object{{"changed_by", p ? p->actor() : "?"}});
    });
    router.set_guard(make_guard(*auth, std::move(o)));
  }

  api::Request req(std::string method, std::string path, std::string body = {}) {
    api::Request r;
    r.method = std::move(method);
    auto q = path.find('?');
    r.path = path.substr(0, q);
    if (q != std::string::npos) r.query = *api::parse_query(path.substr(q + 1));
    r.body = std::move(body);
    r.peer = "192.0.2.50";
    r.headers["host"] = kHost;
    return r;
  }
  api::Response send(const api::Request& r) {
    auto res = router.dispatch(r);
    if (res.deferred) res = res.deferred->wait();  // a password hash, on kdf's thread
    bodies.push_back(res.raw ? *res.raw : json::serialize(res.body));
    return res;
  }

  struct Browser {
    std::string cookie, csrf;
  };
  Browser login(const std::string& user, const std::string& pw) {
    auto r = req("POST", "/api/v1/login", R"({"user":")" + user + R"(","password":")" + pw + R"("})");
    r.headers["origin"] = kOrigin;
    auto res = send(r);
    REQUIRE(res.status == 200);
    std::string set_cookie;
    for (auto& [k, v] : res.headers)
      if (k == "Set-Cookie") set_cookie = v;
    CHECK(set_cookie.find("; HttpOnly; Secure; SameSite=Strict; Path=/") != std::string::npos);
    return {set_cookie.substr(13, set_cookie.find(';') - 13), std::string(res.body.at("csrf_token").as_string())};
  }
  // A change from a page of ours: cookie, CSRF token, Origin.
  api::Request browser(const Browser& b, std::string method, std::string path, std::string body = {}) {
    auto r = req(std::move(method), std::move(path), std::move(body));
    r.headers["cookie"] = "theme=dark; cats_session=" + b.cookie;
    r.headers["x-csrf-token"] = b.csrf;
    r.headers["origin"] = kOrigin;
    return r;
  }
};

std::string code(const api::Response& r) { return std::string(r.body.at("error").at("code").as_string()); }

void setup_admin(Http& h) {
  auto tok = *h.auth->setup_token();
  auto res = h.send(h.req("POST", "/api/v1/setup",
                          R"({"token":")" + tok + R"(","user":"alice","password":"correct horse battery"})"));
  REQUIRE(res.status == 201);
}

}  // namespace

TEST_CASE("http: setup, login, who am I, logout") {
  Http h;
  CHECK(h.send(h.req("GET", "/api/v1/session")).status == 401);
  auto weak = h.send(h.req("POST", "/api/v1/setup", R"({"token":"x","user":"alice","password":"short"})"));
  CHECK(weak.status == 401);  // the token is checked first
  setup_admin(h);
  auto b = h.login("alice", "correct horse battery");
  auto who = h.send(h.browser(b, "GET", "/api/v1/session"));
  REQUIRE(who.status == 200);
  CHECK(who.body.at("user") == "alice");
  CHECK(who.body.at("role") == "admin");
  CHECK(who.body.at("csrf_token").as_string() == b.csrf);
  auto out = h.send(h.browser(b, "POST", "/api/v1/logout"));
  CHECK(out.status == 200);
  CHECK(h.send(h.browser(b, "GET", "/api/v1/session")).status == 401);
}

TEST_CASE("http: local socket is root without login; public paths need nothing") {
  Http h;
  auto r = h.req("POST", "/api/v1/users", R"({"name":"bob","role":"viewer","password":"bobs long password"})");
  r.local = true;
  r.headers.clear();  // no Host, no Origin, no CSRF: the socket is root-only
  CHECK(h.send(r).status == 201);
  CHECK(h.send(h.req("GET", "/index.html")).status == 200);
  CHECK(h.send(h.req("GET", "/ui/app.js")).status == 200);
  CHECK(h.send(h.req("GET", "/uix")).status == 401);  // a prefix is a directory, not a string prefix
  CHECK(h.send(h.req("GET", "/api/v1/users")).status == 401);
}

TEST_CASE("http: public reads are exact paths and GET only (the web UI's \"/\" opens nothing else)") {
  HttpOptions o;
  o.public_reads = {"/", "/assets/app-1.js"};
  o.allowed_hosts = {kHost};
  Http h(std::move(o));
  h.router.add("GET", "/", [](const api::Request&) { return api::Response::text("<html>", "text/html"); });
  h.router.add("GET", "/assets/app-1.js", [](const api::Request&) { return api::Response::text("//", "text/javascript"); });
  h.router.add("POST", "/", [](const api::Request&) { return api::Response::json(nullptr); });
  CHECK(h.send(h.req("GET", "/")).status == 200);
  CHECK(h.send(h.req("GET", "/assets/app-1.js")).status == 200);
  CHECK(h.send(h.req("GET", "/api/v1/users")).status == 401);
  CHECK(h.send(h.req("GET", "/index.html")).status == 401);
  CHECK(h.send(h.req("POST", "/")).status == 401);
  auto evil = h.req("GET", "/");
  evil.headers["host"] = "evil.example";
  CHECK(h.send(evil).status == 403);  // Host is still checked
}

TEST_CASE("http: CSRF token and Origin on every cookie-authenticated change") {
  Http h;
  setup_admin(h);
  auto b = h.login("alice", "correct horse battery");
  CHECK(h.send(h.browser(b, "POST", "/api/v1/config")).status == 200);

  auto no_csrf = h.browser(b, "POST", "/api/v1/config");
  no_csrf.headers.erase("x-csrf-token");
  auto res = h.send(no_csrf);
  CHECK(res.status == 403);
  CHECK(code(res) == "csrf");

  auto wrong = h.browser(b, "POST", "/api/v1/config");
  wrong.headers["x-csrf-token"] = std::string(64, 'a');
  CHECK(h.send(wrong).status == 403);

  auto other_origin = h.browser(b, "POST", "/api/v1/config");
  other_origin.headers["origin"] = "https://evil.example";
  res = h.send(other_origin);
  CHECK(res.status == 403);
  CHECK(code(res) == "origin");

  auto other_port = h.browser(b, "POST", "/api/v1/config");
  other_port.headers["origin"] = "https://cpe.example:9443";
  CHECK(h.send(other_port).status == 403);

  auto no_origin = h.browser(b, "POST", "/api/v1/config");
  no_origin.headers.erase("origin");
  CHECK(h.send(no_origin).status == 403);
  no_origin.headers["referer"] = "https://cpe.example:8443/ui/config";
  CHECK(h.send(no_origin).status == 200);

  // Reads need neither.
  auto read = h.browser(b, "GET", "/api/v1/users");
  read.headers.erase("x-csrf-token");
  read.headers.erase("origin");
  CHECK(h.send(read).status == 200);
}

TEST_CASE("http: Host allow-list on every request, tokens included") {
  Http h;
  setup_admin(h);
  auto b = h.login("alice", "correct horse battery");
  auto rebound = h.browser(b, "GET", "/api/v1/users");
  rebound.headers["host"] = "evil.example";
  rebound.headers["origin"] = "https://evil.example";
  auto res = h.send(rebound);
  CHECK(res.status == 403);
  CHECK(code(res) == "host");

  auto t = h.auth->create_token(kRoot, "local", "ci", Role::admin, kT0 + kMin);
  auto r = h.req("POST", "/api/v1/config");
  r.headers["authorization"] = "Bearer " + t->secret;
  CHECK(h.send(r).status == 200);  // no CSRF token, no Origin: not a browser credential
  r.headers["host"] = "evil.example";
  CHECK(h.send(r).status == 403);

  // A cross-site login form (login CSRF) is refused too.
  auto cross = h.req("POST", "/api/v1/login", R"({"user":"alice","password":"correct horse battery"})");
  cross.headers["origin"] = "https://evil.example";
  CHECK(h.send(cross).status == 403);
}

TEST_CASE("http: a viewer reads but changes nothing (403), except its own password and logout") {
  Http h;
  setup_admin(h);
  REQUIRE(h.auth->add_user(kRoot, "local", "victor", Role::viewer, "victors password"));
  auto v = h.login("victor", "victors password");
  CHECK(h.send(h.browser(v, "GET", "/api/v1/audit")).status == 200);
  // The account lists are the admin's (issue 10: users and tokens, admin only).
  auto users = h.send(h.browser(v, "GET", "/api/v1/users"));
  CHECK(users.status == 403);
  CHECK(json::serialize(users.body).find("alice") == std::string::npos);
  CHECK(h.send(h.browser(v, "GET", "/api/v1/tokens")).status == 403);
  CHECK(h.send(h.browser(v, "GET", "/api/v1/usersx")).status != 403);  // not an account route
  auto res = h.send(h.browser(v, "POST", "/api/v1/config"));
  CHECK(res.status == 403);
  CHECK(h.send(h.browser(v, "POST", "/api/v1/users", R"({"name":"x","role":"admin","password":"xxxxxxxxxxxxxx"})"))
            .status == 403);
  CHECK(h.send(h.browser(v, "DELETE", "/api/v1/users?name=alice")).status == 403);
  CHECK(h.send(h.browser(v, "POST", "/api/v1/users/password?name=alice", R"({"password":"taken over now"})"))
            .status == 403);
  CHECK(h.send(h.browser(v, "POST", "/api/v1/users/password?name=victor", R"({"password":"victors new one"})"))
            .status == 200);
  CHECK(h.send(h.browser(v, "POST", "/api/v1/logout")).status == 200);

  auto t = h.auth->create_token(kRoot, "local", "ro", Role::viewer, kT0 + kMin);
  auto r = h.req("POST", "/api/v1/config");
  r.headers["authorization"] = "Bearer " + t->secret;
  CHECK(h.send(r).status == 403);
  r.method = "GET";
  r.path = "/api/v1/tokens";
  CHECK(h.send(r).status == 403);
  r.path = "/api/v1/status";
  CHECK(h.send(r).status != 403);
  auto admin = h.auth->create_token(kRoot, "local", "rw", Role::admin, kT0 + kMin);
  r.headers["authorization"] = "Bearer " + admin->secret;
  r.path = "/api/v1/tokens";
  CHECK(h.send(r).status == 200);
}

TEST_CASE("http: bearer tokens: created once, listed without secrets, revoked, expired") {
  Http h;
  setup_admin(h);
  auto b = h.login("alice", "correct horse battery");
  auto created = h.send(h.browser(b, "POST", "/api/v1/tokens",
                                  R"({"name":"ci","role":"viewer","expires_ms":)" + std::to_string(kT0 + kMin) + "}"));
  REQUIRE(created.status == 201);
  std::string secret(created.body.at("token").as_string());
  std::string id(created.body.at("id").as_string());
  auto r = h.req("GET", "/api/v1/session");
  r.headers["authorization"] = "Bearer " + secret;
  auto who = h.send(r);
  REQUIRE(who.status == 200);
  CHECK(who.body.at("via") == "token");
  CHECK(who.body.at("role") == "viewer");

  auto list = h.send(h.browser(b, "GET", "/api/v1/tokens"));
  CHECK(json::serialize(list.body).find(secret.substr(secret.rfind('_') + 1)) == std::string::npos);
  CHECK(list.body.at("tokens").as_array().at(0).at("id").as_string() == id);

  r.headers["authorization"] = "Basic YWxpY2U6eA==";
  CHECK(h.send(r).status == 401);
  r.headers["authorization"] = "Bearer " + secret;
  CHECK(h.send(h.browser(b, "DELETE", "/api/v1/tokens?id=" + id)).status == 200);
  auto res = h.send(r);
  CHECK(res.status == 401);
  bool challenge = false;
  for (auto& [k, v] : res.headers) challenge |= k == "WWW-Authenticate";
  CHECK(challenge);
}

TEST_CASE("http: rate-limited login answers 429 with Retry-After") {
  Http h;
  setup_admin(h);
  api::Response res;
  for (int i = 0; i < 6; ++i)
    res = h.send(h.req("POST", "/api/v1/login", R"({"user":"alice","password":"guess number )" + std::to_string(i) + R"("})"));
  REQUIRE(res.status == 429);
  std::string retry;
  for (auto& [k, v] : res.headers)
    if (k == "Retry-After") retry = v;
  CHECK(retry == "1");
  CHECK(code(res) == "too_many_requests");
}

TEST_CASE("http: bad bodies get 400/422 with the field's JSON path and change nothing") {
  Http h;
  setup_admin(h);
  auto b = h.login("alice", "correct horse battery");
  auto res = h.send(h.browser(b, "POST", "/api/v1/users", "{not json"));
  CHECK(res.status == 400);
  res = h.send(h.browser(b, "POST", "/api/v1/users", R"({"name":"bob","role":"viewer","password":"x","admin":true})"));
  CHECK(res.status == 422);
  CHECK(res.body.at("error").at("fields").at(0).at("field") == "/admin");
  res = h.send(h.browser(b, "POST", "/api/v1/users", R"({"name":"bob","role":"root","password":"bobs long password"})"));
  CHECK(res.body.at("error").at("fields").at(0).at("field") == "/role");
  res = h.send(h.browser(b, "POST", "/api/v1/users", R"({"name":"bob","role":"viewer","password":"short"})"));
  CHECK(res.status == 422);
  CHECK(res.body.at("error").at("fields").at(0).at("field") == "/password");
  res = h.send(h.browser(b, "POST", "/api/v1/users", R"({"name":"bob","role":"viewer","password":12})"));
  CHECK(res.body.at("error").at("fields").at(0).at("field") == "/password");
  res = h.send(h.browser(b, "POST", "/api/v1/tokens", R"({"name":"ci","role":"viewer","expires_ms":"soon"})"));
  CHECK(res.body.at("error").at("fields").at(0).at("field") == "/expires_ms");
  CHECK(h.send(h.browser(b, "DELETE", "/api/v1/users")).status == 400);
  CHECK(h.send(h.browser(b, "GET", "/api/v1/audit?limit=abc")).status == 400);
  CHECK(h.auth->users()->size() == 1);
  CHECK(h.auth->tokens()->empty());
}

TEST_CASE("http: no answer ever carries a password, hash, cookie value or token secret") {
  Http h;
  setup_admin(h);
  auto b = h.login("alice", "correct horse battery");
  REQUIRE(h.send(h.browser(b, "POST", "/api/v1/users", R"({"name":"bob","role":"viewer","password":"bobs long password"})"))
              .status == 201);
  auto created = h.send(h.browser(b, "POST", "/api/v1/tokens",
                                  R"({"name":"ci","role":"admin","expires_ms":)" + std::to_string(kT0 + kMin) + "}"));
  std::string secret(created.body.at("token").as_string());
  secret = secret.substr(secret.rfind('_') + 1);
  h.bodies.clear();  // the token's creation is the one answer allowed to show it
  for (const char* path : {"/api/v1/users", "/api/v1/tokens", "/api/v1/audit", "/api/v1/session"})
    REQUIRE(h.send(h.browser(b, "GET", path)).status == 200);
  std::vector<std::string> secrets = {"correct horse battery", "bobs long password", b.cookie, secret, "$argon2id$"};
  for (const auto& u : *h.auth->users()) secrets.push_back(u.password_hash);
  for (const auto& body : h.bodies)
    for (const auto& s : secrets) CHECK(body.find(s) == std::string::npos);
}

namespace {

// Real Argon2id (cheap parameters) that waits, while held, until released: logins "in
// flight" for as long as the test wants, with no timing involved.
class HeldHasher : public PasswordHasher {
 public:
  cats::Result<std::string> hash(std::string_view pw, std::span<const uint8_t, kSaltBytes> salt) override {
    return inner_->hash(pw, salt);
  }
  cats::Result<bool> verify(const std::string& phc, std::string_view pw) override {
    {
      std::unique_lock lk(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lk, [this] { return !held_; });
    }
    return inner_->verify(phc, pw);
  }
  void hold() {
    std::lock_guard lk(mu_);
    held_ = true;
  }
  void release() {
    std::lock_guard lk(mu_);
    held_ = false;
    cv_.notify_all();
  }
  bool wait_entered(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(5), [&] { return entered_ >= n; });
  }

 private:
  std::unique_ptr<PasswordHasher> inner_ = argon2id_hasher(KdfParams{64, 1, 1});
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool held_ = false;
};

}  // namespace

TEST_CASE("http: logins hash off the server's thread; other requests are answered meanwhile") {
  World w;
  auto hasher = std::make_shared<HeldHasher>();
  auto o = w.options();
  o.hasher = hasher;
  o.on_event = nullptr;  // World::events is not for several threads
  auto auth = w.open(std::move(o));
  make_admin(*auth);
  api::Offload kdf("test-kdf", 2);
  api::Router router;
  add_routes(router, *auth, kdf);
  router.add("GET", "/api/v1/status", [](const api::Request&) { return api::Response::json(json::object{}); });
  router.set_guard(make_guard(*auth, {}));
  const std::string sock = w.dir.file("api.sock");
  auto srv = api::UnixServer::start(sock, router);
  REQUIRE(srv.has_value());

  // Three logins in flight: one hashing (held), two waiting in the worker's queue.
  hasher->hold();
  const std::string body = R"({"user":"alice","password":"correct horse battery"})";
  std::atomic<int> answered{0};
  std::vector<int> statuses(3, 0);
  std::vector<std::thread> logins;
  // On a failed REQUIRE too: let the hashes go and join, so a failure is reported, not aborted.
  struct Cleanup {
    HeldHasher& h;
    std::vector<std::thread>& ts;
    ~Cleanup() {
      h.release();
      for (auto& t : ts)
        if (t.joinable()) t.join();
    }
  } cleanup{*hasher, logins};
  for (int i = 0; i < 3; ++i) {
    logins.emplace_back([&, i] {
      auto r = api::unix_request(sock, "POST", "/api/v1/login", body, std::chrono::seconds(10));
      statuses[i] = r ? r->status : -1;
      ++answered;
    });
    if (i == 0) REQUIRE(hasher->wait_entered(1));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (kdf.queued() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(kdf.queued() == 2);

  // Answered while all three wait on the hasher: when the hash ran on the server's thread
  // this request waited behind them (here: forever, so the 2 s timeout would fail it).
  auto status = api::unix_request(sock, "GET", "/api/v1/status", {}, std::chrono::seconds(2));
  REQUIRE(status.has_value());
  CHECK(status->status == 200);
  CHECK(answered == 0);
  // A fourth login finds the queue full: 503, and no hash runs for it.
  auto full = api::unix_request(sock, "POST", "/api/v1/login", body, std::chrono::seconds(2));
  REQUIRE(full.has_value());
  CHECK(full->status == 503);
  CHECK(json::parse(full->body).at("error").at("code") == "unavailable");

  hasher->release();
  for (auto& t : logins) t.join();
  CHECK(statuses == std::vector<int>{200, 200, 200});
}
