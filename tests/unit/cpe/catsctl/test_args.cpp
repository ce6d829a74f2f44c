// catsctl's command line (ctl::parse_args): each documented option in both spellings,
// options before and after the command, --help, and the usage errors with their messages.
// What the parsed options then do (socket, HTTPS, exit codes) is in test_catsctl.cpp.
#include "ctl.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace cats;

namespace {

struct Parsed {
  std::optional<int> code;  // set when parsing ends the run
  ctl::Options opt;
  std::string out, err;
};

// What run() starts parse_args from: $CATS_SOCKET (else the default), $CATS_URL, $CATS_PIN.
ctl::Options env(std::string socket, std::string url = {}, std::string pin = {}) {
  ctl::Options o;
  o.socket = std::move(socket);
  o.url = std::move(url);
  o.pin = std::move(pin);
  return o;
}

Parsed parse(const std::vector<std::string>& args, ctl::Options defaults = env("/run/env.sock")) {
  Parsed p;
  p.opt = std::move(defaults);
  std::ostringstream out, err;
  p.code = ctl::parse_args(args, p.opt, out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

std::string usage_text() {
  std::ostringstream os;
  ctl::usage(os);
  return os.str();
}

}  // namespace

TEST_CASE("catsctl args: each global option, as --opt VALUE and --opt=VALUE") {
  auto p = parse({"--socket", "/tmp/a.sock", "--url", "https://192.0.2.1:8443", "--pin", "AB:CD", "--token-file",
                  "/etc/t", "--json", "status"});
  CHECK_FALSE(p.code.has_value());
  CHECK(p.opt.socket == "/tmp/a.sock");
  CHECK(p.opt.url == "https://192.0.2.1:8443");
  CHECK(p.opt.pin == "AB:CD");
  CHECK(p.opt.token_file == "/etc/t");
  CHECK(p.opt.json);
  CHECK(p.opt.command == "status");
  CHECK(p.opt.rest.empty());
  CHECK(p.out.empty());
  CHECK(p.err.empty());

  auto eq = parse({"--socket=/tmp/b.sock", "--url=https://[::1]:8443", "--pin=EF", "--token-file=/etc/u", "paths"});
  CHECK_FALSE(eq.code.has_value());
  CHECK(eq.opt.socket == "/tmp/b.sock");
  CHECK(eq.opt.url == "https://[::1]:8443");
  CHECK(eq.opt.pin == "EF");
  CHECK(eq.opt.token_file == "/etc/u");
  CHECK_FALSE(eq.opt.json);
  CHECK(eq.opt.command == "paths");
}

TEST_CASE("catsctl args: the environment's defaults stay unless an option replaces them") {
  auto p = parse({"status"}, env("/run/env.sock", "https://env:1", "PIN"));
  CHECK_FALSE(p.code.has_value());
  CHECK(p.opt.socket == "/run/env.sock");
  CHECK(p.opt.url == "https://env:1");
  CHECK(p.opt.pin == "PIN");
  auto q = parse({"--socket", "/x.sock", "status"}, env("/run/env.sock"));
  CHECK(q.opt.socket == "/x.sock");
}

TEST_CASE("catsctl args: global options after the command; the rest is the command's own") {
  auto p = parse({"user", "add", "alice", "--json", "--socket", "/s", "--role", "admin"});
  CHECK_FALSE(p.code.has_value());
  CHECK(p.opt.command == "user");
  CHECK(p.opt.json);
  CHECK(p.opt.socket == "/s");
  // --role is not a global option: it goes with the command's arguments, in order.
  CHECK(p.opt.rest == std::vector<std::string>{"add", "alice", "--role", "admin"});
}

TEST_CASE("catsctl args: -h, --help and help print the usage to stdout and end with 0") {
  for (const std::string h : {"-h", "--help", "help"}) {
    INFO(h);
    auto p = parse({h});
    REQUIRE(p.code.has_value());
    CHECK(*p.code == ctl::kOk);
    CHECK(p.out == usage_text());
    CHECK(p.err.empty());
  }
  // Before a command too; after one it is the command's argument.
  CHECK(parse({"--help", "status"}).code == ctl::kOk);
  auto after = parse({"status", "--help"});
  CHECK_FALSE(after.code.has_value());
  CHECK(after.opt.rest == std::vector<std::string>{"--help"});
  const auto u = usage_text();
  for (const char* flag : {"--socket PATH", "--url URL", "--pin", "--token-file", "--json"})
    CHECK(u.find(flag) != std::string::npos);
}

TEST_CASE("catsctl args: usage errors end with 2 and say what is wrong") {
  auto unknown = parse({"--bogus", "status"});
  CHECK(unknown.code == ctl::kUsage);
  CHECK(unknown.err == "catsctl: unknown option --bogus\n" + usage_text());

  for (const std::string o : {"--socket", "--url", "--pin", "--token-file"}) {
    INFO(o);
    auto missing = parse({"status", o});
    CHECK(missing.code == ctl::kUsage);
    CHECK(missing.err == "catsctl: " + o + " needs a value\n");
  }

  auto none = parse({});
  CHECK(none.code == ctl::kUsage);
  CHECK(none.err == usage_text());
  auto only_options = parse({"--json"});
  CHECK(only_options.code == ctl::kUsage);

  auto empty = parse({"status"}, env(""));
  CHECK(empty.code == ctl::kUsage);
  CHECK(empty.err == "catsctl: empty socket path\n");
  // With a URL the socket is not needed.
  CHECK_FALSE(parse({"--url", "https://h:1", "status"}, env("")).code.has_value());
  CHECK(parse({"--socket=", "status"}).code == ctl::kUsage);
}
