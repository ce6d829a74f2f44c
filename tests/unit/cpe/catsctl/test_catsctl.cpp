#include "api/api.hpp"
#include "api/https.hpp"
#include "base/process.hpp"
#include "ctl.hpp"
#include "test_helpers.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace cats;
namespace json = boost::json;

namespace {

const char* kStatus = R"({"role":"cpe","name":"branch1","backend":"userspace",
 "tunnels":[
  {"interface":"cats-wan1","wan":"wan1","listen_port":51801,"fwmark":15794176,"public_key":"AAA=",
   "peers":[{"name":"cloud1","public_key":"BBB=","endpoint":"198.51.100.10:51811","last_handshake":1700000000.5,"rx_bytes":123,"tx_bytes":456},
            {"name":"cloud2","public_key":"CCC=","endpoint":"203.0.113.7:51811","last_handshake":1699990000,"rx_bytes":1572864,"tx_bytes":5368709120}]},
  {"interface":"cats-lte","wan":"lte","listen_port":51802,"fwmark":15794177,"public_key":"DDD=",
   "peers":[{"name":"cloud1","public_key":"BBB=","endpoint":null,"last_handshake":null,"rx_bytes":0,"tx_bytes":1536}]},
  {"interface":"cats-wan2","wan":"wan2","listen_port":51803,"fwmark":15794178,"public_key":"EEE=","peers":[]}
 ]})";

struct Run {
  int code;
  std::string out, err;
};

Run run_ctl(const std::vector<std::string>& args, const char* env = nullptr) {
  std::ostringstream out, err;
  int code = ctl::run(args, out, err, env);
  return {code, out.str(), err.str()};
}

api::Router status_router() {
  api::Router rt;
  rt.add("GET", "/api/v1/status", [](const api::Request&) { return api::Response::json(json::parse(kStatus)); });
  return rt;
}

}  // namespace

TEST_CASE("status renders as a header line and an aligned table (golden)") {
  const double now = 1700000012.5;
  const std::string expected =
      "role: cpe  name: branch1  backend: userspace\n"
      "\n"
      "TUNNEL     WAN   PEER    ENDPOINT             HANDSHAKE       RX       TX\n"
      "cats-wan1  wan1  cloud1  198.51.100.10:51811  12s ago      123 B    456 B\n"
      "cats-wan1  wan1  cloud2  203.0.113.7:51811    2h46m ago  1.5 MiB  5.0 GiB\n"
      "cats-lte   lte   cloud1  -                    never          0 B  1.5 KiB\n"
      "cats-wan2  wan2  -       -                    -                -        -\n";
  CHECK(ctl::render_status(json::parse(kStatus), now) == expected);
}

TEST_CASE("render_table is generic over columns") {
  auto rows = json::parse(R"([{"a":"x","n":5},{"a":"longer","n":12345},7,{"n":null}])").as_array();
  auto text = ctl::render_table(rows, {ctl::col("A", "a"), ctl::col("N", "n", {}, true)});
  CHECK(text ==
        "A           N\n"
        "x           5\n"
        "longer  12345\n"
        "-           -\n");
  CHECK(ctl::fmt_ago(json::value(0), 100) == "never");
  CHECK(ctl::fmt_ago(json::value(10), 100) == "1m30s ago");
  CHECK(ctl::fmt_ago(json::value(100), 10) == "0s ago");  // clock skew
  CHECK(ctl::fmt_bytes(json::value(1023)) == "1023 B");
  CHECK(ctl::fmt_bytes(json::value("x")) == "-");
}

TEST_CASE("catsctl exit codes") {
  test::TempDir tmp;
  const std::string sock = tmp.path + "/cpe.sock";

  SECTION("3 when nothing listens, naming the socket") {
    auto r = run_ctl({"--socket", sock, "status"});
    CHECK(r.code == 3);
    CHECK(r.err.find(sock) != std::string::npos);
    CHECK(r.err.find("No such file") != std::string::npos);
    // The environment default is used when --socket is absent.
    CHECK(run_ctl({"status"}, sock.c_str()).err.find(sock) != std::string::npos);
    // And the real binary agrees.
    auto bin = run_command({CATSCTL_BIN, "--socket", sock, "status"});
    REQUIRE(bin.has_value());
    CHECK(bin->exit_status == 3);
  }

  SECTION("2 for usage errors") {
    CHECK(run_ctl({}).code == 2);
    CHECK(run_ctl({"frobnicate"}).code == 2);
    CHECK(run_ctl({"--bogus", "status"}).code == 2);
    CHECK(run_ctl({"status", "extra"}).code == 2);
    CHECK(run_ctl({"--socket"}).code == 2);
    CHECK(run_ctl({"--help"}).code == 0);
  }

  SECTION("1 with the server's message for an API error") {
    auto srv = api::UnixServer::start(sock, api::Router{});
    REQUIRE(srv.has_value());
    auto r = run_ctl({"--socket=" + sock, "status"});
    CHECK(r.code == 1);
    CHECK(r.err.find("404") != std::string::npos);
    CHECK(r.err.find("no such endpoint") != std::string::npos);
  }

  SECTION("0 with JSON or a table") {
    auto srv = api::UnixServer::start(sock, status_router());
    REQUIRE(srv.has_value());
    auto j = run_ctl({"--socket", sock, "--json", "status"});
    CHECK(j.code == 0);
    CHECK(json::parse(j.out) == json::parse(kStatus));
    auto t = run_ctl({"status", "--socket", sock});
    CHECK(t.code == 0);
    CHECK(t.out.rfind("role: cpe  name: branch1  backend: userspace\n", 0) == 0);
    CHECK(t.out.find("cats-lte   lte   cloud1") != std::string::npos);
  }
}

TEST_CASE("catsctl user/token: requests on the socket, passwords from stdin, usage errors") {
  test::TempDir tmp;
  const std::string sock = tmp.path + "/cpe.sock";
  std::vector<std::string> seen;
  api::Router rt;
  auto record = [&](int status, json::value reply) {
    return [&seen, status, reply](const api::Request& q) {
      seen.push_back(q.method + " " + q.path + (q.query.empty() ? "" : "?" + q.query.begin()->first + "=" +
                                                                       q.query.begin()->second) +
                     " " + q.body);
      return api::Response::json(reply, status);
    };
  };
  rt.add("POST", "/api/v1/users", record(201, json::object{{"name", "vera"}}));
  rt.add("GET", "/api/v1/users", record(200, json::parse(R"({"users":[{"name":"admin","role":"admin","disabled":false}]})")));
  rt.add("DELETE", "/api/v1/users", record(200, json::object{}));
  rt.add("POST", "/api/v1/tokens", record(201, json::parse(R"({"id":"ab12","token":"cats_ab12_s3cr3t"})")));
  rt.add("DELETE", "/api/v1/tokens", record(200, json::object{}));
  rt.add("POST", "/api/v1/users/password", record(200, json::object{}));
  rt.add("GET", "/api/v1/tokens",
         record(200, json::parse(R"({"tokens":[{"id":"ab12","name":"prom","role":"viewer","expires_ms":9,"last_used_ms":null}]})")));
  auto srv = api::UnixServer::start(sock, rt);
  REQUIRE(srv.has_value());
  auto run_in = [&](std::vector<std::string> args, const std::string& input) {
    std::ostringstream out, err;
    std::istringstream in(input);
    int code = ctl::run(args, out, err, sock.c_str(), in);
    return Run{code, out.str(), err.str()};
  };

  auto add = run_in({"user", "add", "vera", "--role", "viewer", "--password-file", "-"}, "a long password here\n");
  CHECK(add.code == 0);
  CHECK(add.out == "added user vera\n");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == R"(POST /api/v1/users {"name":"vera","role":"viewer","password":"a long password here"})");
  CHECK(run_in({"user", "list"}, "").out.find("admin") != std::string::npos);
  CHECK(run_in({"user", "del", "a b&c"}, "").code == 0);
  CHECK(seen.back() == "DELETE /api/v1/users?name=a b&c ");  // percent-encoded on the wire, decoded here
  auto tok = run_in({"token", "add", "prom", "--days", "7"}, "");
  CHECK(tok.code == 0);
  CHECK(tok.out.find("cats_ab12_s3cr3t") != std::string::npos);
  CHECK(seen.back().find(R"("role":"viewer","expires_ms":)") != std::string::npos);
  CHECK(run_in({"token", "revoke", "ab12"}, "").out == "revoked token ab12\n");
  auto pw = run_in({"user", "passwd", "vera", "--password-file", "-"}, "another long password\n");
  CHECK(pw.code == 0);
  CHECK(seen.back() == R"(POST /api/v1/users/password?name=vera {"password":"another long password"})");
  auto toks = run_in({"token", "list"}, "");
  CHECK(toks.code == 0);
  CHECK(toks.out.find("prom") != std::string::npos);
  CHECK(toks.out.find("s3cr3t") == std::string::npos);  // a list never shows a secret

  // Usage errors change nothing on the server.
  const size_t before = seen.size();
  CHECK(run_in({"user", "add", "vera"}, "").code == 2);                              // no password source
  CHECK(run_in({"user", "add", "vera", "--password", "x"}, "").code == 2);           // never on the command line
  CHECK(run_in({"user", "add", "vera", "--password-file", "-"}, "").code == 2);      // empty
  CHECK(run_in({"token", "add", "t", "--days", "0"}, "").code == 2);
  CHECK(run_in({"token", "add", "t", "--days", "7x"}, "").code == 2);
  CHECK(run_in({"token"}, "").code == 2);
  CHECK(seen.size() == before);
}

TEST_CASE("catsctl config: changes carry If-Match of the revision just read, and pick the patch op") {
  test::TempDir tmp;
  const std::string sock = tmp.path + "/cpe.sock";
  std::vector<std::string> seen;
  api::Router rt;
  rt.add("GET", "/api/v1/config", [](const api::Request&) {
    auto r = api::Response::json(json::parse(R"({"selection":{"hold_down_ms":1000},"service":[{"id":"a"}]})"));
    r.headers.emplace_back("ETag", "\"7\"");
    return r;
  });
  auto change = [&seen](const api::Request& q) {
    std::string line = q.method + " " + q.path + " if-match=" + q.header("if-match");
    for (const auto& [k, v] : q.query) line += " " + k + "=" + v;
    seen.push_back(line + " " + q.body);
    return api::Response::json(json::parse(R"({"revision":8,"pending":null})"));
  };
  rt.add("PATCH", "/api/v1/config", change);
  rt.add("POST", "/api/v1/config/import", change);
  rt.add("POST", "/api/v1/config/revert", change);
  rt.add("POST", "/api/v1/config/confirm", change);
  rt.add("GET", "/api/v1/config/export", [&seen](const api::Request& q) {
    std::string line = "GET " + q.path;
    for (const auto& [k, v] : q.query) line += " " + k + "=" + v;
    seen.push_back(line);
    return api::Response::text("{\"cpe\":{}}", "application/json");
  });
  rt.add("GET", "/api/v1/config/revisions", [](const api::Request& q) {
    return api::Response::json(json::parse(R"({"revisions":[{"revision":8,"ts_ms":5,"author":"root","peer":"",
      "comment":"lim )" + (q.query.count("limit") ? q.query.at("limit") : std::string("-")) +
                                           R"(","confirm_by_ms":null}],"pending":null})"));
  });
  rt.add("GET", "/api/v1/config/diff", [](const api::Request& q) {
    return api::Response::text("~ /x: 1 -> 2\n" + q.query.at("from") + q.query.at("to"), "text/plain");
  });
  auto srv = api::UnixServer::start(sock, rt);
  REQUIRE(srv.has_value());
  auto run_in = [&](std::vector<std::string> args, const std::string& input = "") {
    std::ostringstream out, err;
    std::istringstream in(input);
    int code = ctl::run(args, out, err, sock.c_str(), in);
    return Run{code, out.str(), err.str()};
  };

  auto set = run_in({"config", "set", "/selection/hold_down_ms", "1500", "--confirm", "60", "--comment", "a b"});
  CHECK(set.code == 0);
  CHECK(set.out == "revision 8\n");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == R"(PATCH /api/v1/config if-match="7" comment=a b confirm_within=60 [{"op":"replace","path":"/selection/hold_down_ms","value":1500}])");
  CHECK(run_in({"config", "set", "/selection/hysteresis_pct", "12"}).code == 0);  // absent: add
  CHECK(seen.back().find(R"({"op":"add","path":"/selection/hysteresis_pct","value":12})") != std::string::npos);
  CHECK(run_in({"config", "set", "/cpe/log_level", "debug"}).code == 0);  // a bare word is a string
  CHECK(seen.back().find(R"("value":"debug")") != std::string::npos);
  CHECK(run_in({"config", "del", "/service/0"}).code == 0);
  CHECK(seen.back().find(R"([{"op":"remove","path":"/service/0"}])") != std::string::npos);
  CHECK(run_in({"config", "import", "-"}, R"({"cpe":{}})").code == 0);
  CHECK(seen.back() == R"(POST /api/v1/config/import if-match="7" {"cpe":{}})");
  CHECK(run_in({"config", "diff", "3", "5"}).out == "~ /x: 1 -> 2\n35\n");  // a newline ends the text
  CHECK(run_in({"config", "get", "/selection/hold_down_ms"}).out == "1000\n");
  CHECK(run_in({"config", "get"}).out.find("\"hold_down_ms\"") != std::string::npos);
  CHECK(run_in({"config", "get", "/nope"}).out == "no value at /nope\n");
  auto rev = run_in({"config", "revert", "3", "--comment", "back"});
  CHECK(rev.code == 0);
  CHECK(rev.out == "revision 8\n");
  CHECK(seen.back() == R"(POST /api/v1/config/revert if-match= comment=back {"revision":3})");
  CHECK(run_in({"config", "confirm", "8"}).out == "revision 8 confirmed\n");
  CHECK(seen.back() == R"(POST /api/v1/config/confirm if-match= {"revision":8})");
  auto exp = run_in({"config", "export", "--revision", "4", "--secrets"});
  CHECK(exp.code == 0);
  CHECK(exp.out.find(R"({"cpe":{}})") == 0);
  CHECK(seen.back() == "GET /api/v1/config/export revision=4 secrets=1");
  CHECK(run_in({"config", "export"}).code == 0);
  CHECK(seen.back() == "GET /api/v1/config/export");
  auto hist = run_in({"config", "history", "--limit", "5"});
  CHECK(hist.code == 0);
  CHECK(hist.out.find("lim 5") != std::string::npos);
  CHECK(hist.out.find("root") != std::string::npos);

  // Usage errors send no change.
  const size_t before = seen.size();
  CHECK(run_in({"config", "del", "/nope"}).code == 2);  // nothing there to remove
  CHECK(run_in({"config", "set", "hold_down_ms", "1"}).code == 2);
  CHECK(run_in({"config", "diff", "3"}).code == 2);
  CHECK(run_in({"config", "revert", "x"}).code == 2);
  CHECK(run_in({"config", "frobnicate"}).code == 2);
  CHECK(seen.size() == before);
}

TEST_CASE("catsctl --url: https only, a pin and a token are required before anything is sent") {
  auto r = run_ctl({"--url", "http://10.1.0.1:8443", "status"});
  CHECK(r.code == 3);
  CHECK(r.err.find("https://") != std::string::npos);
  r = run_ctl({"--url", "https://10.1.0.1:8443/x", "status"});
  CHECK(r.err.find("no path") != std::string::npos);
  r = run_ctl({"--url", "https://10.1.0.1:99999", "status"});
  CHECK(r.err.find("bad port") != std::string::npos);
  r = run_ctl({"--url", "https://[::1]:8443", "status"});
  CHECK(r.err.find("--pin") != std::string::npos);
  ::unsetenv("CATS_TOKEN");
  r = run_ctl({"--url", "https://127.0.0.1:1", "--pin", "AB", "status"});
  CHECK(r.err.find("API token") != std::string::npos);
}

// Issue 9 "CLI": catsctl works against the HTTPS API with the same commands, a token from
// the environment or a file, and the certificate pinned by fingerprint. Against the real
// HttpsServer over TLS on loopback: the pin is what authenticates the server, so a wrong
// one must stop catsctl before any request (and its token) reaches a server.
TEST_CASE("catsctl --url: the same command over real HTTPS, pinned, with a token from a file or $CATS_TOKEN") {
  test::TempDir tmp;
  const std::vector<std::string> san{"127.0.0.1"};
  auto id = api::load_or_create_identity(tmp.path + "/cert.pem", tmp.path + "/key.pem", "cats-cpe", san);
  REQUIRE(id.has_value());
  std::atomic<int> calls{0};
  std::string bearer;
  api::Router rt;
  rt.add("GET", "/api/v1/status", [&](const api::Request& r) {
    ++calls;
    bearer = r.header("authorization");
    if (bearer != "Bearer cats_t1_secret") return api::Response::error(401, "bad token");
    return api::Response::json(json::parse(kStatus));
  });
  api::HttpsOptions o;
  o.listen = {"127.0.0.1:0"};
  o.identity = *id;
  auto srv = api::HttpsServer::start(o, std::move(rt));
  REQUIRE(srv.has_value());
  const std::string url = "https://" + (*srv)->endpoints().at(0);
  const std::string token_file = tmp.path + "/token";
  std::ofstream(token_file) << "cats_t1_secret\n";
  ::unsetenv("CATS_TOKEN");
  ::unsetenv("CATS_PIN");
  struct Unset {  // whatever fails below, the other cases see no token or pin
    ~Unset() {
      ::unsetenv("CATS_TOKEN");
      ::unsetenv("CATS_PIN");
    }
  } unset;

  auto file = run_ctl({"--url", url, "--pin", id->fingerprint_sha256, "--token-file", token_file, "status"});
  CHECK(file.code == 0);
  CHECK(file.out.rfind("role: cpe  name: branch1  backend: userspace\n", 0) == 0);  // the socket's rendering
  CHECK(bearer == "Bearer cats_t1_secret");
  CHECK(calls == 1);

  ::setenv("CATS_TOKEN", "cats_t1_secret", 1);
  ::setenv("CATS_PIN", id->fingerprint_sha256.c_str(), 1);  // the pin from the environment too
  auto env = run_ctl({"--url", url, "--json", "status"});
  CHECK(env.code == 0);
  CHECK(json::parse(env.out) == json::parse(kStatus));
  CHECK(calls == 2);

  // A certificate other than the pinned one: refused in the handshake, nothing sent.
  std::string wrong = id->fingerprint_sha256;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  auto pinned = run_ctl({"--url", url, "--pin", wrong, "status"});
  CHECK(pinned.code == 3);
  CHECK(pinned.err.find(id->fingerprint_sha256) != std::string::npos);  // names the certificate it saw
  CHECK(calls == 2);

  // The server's own refusal of a token comes back as an API error.
  ::setenv("CATS_TOKEN", "cats_t1_wrong", 1);
  auto refused = run_ctl({"--url", url, "status"});
  CHECK(refused.code == 1);
  CHECK(refused.err.find("401") != std::string::npos);
}
