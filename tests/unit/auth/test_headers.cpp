#include "auth/headers.hpp"

#include <catch2/catch.hpp>

using namespace cats::auth;

TEST_CASE("find_cookie: RFC 6265 cookie-string") {
  CHECK(find_cookie("cats_session=abc", "cats_session") == "abc");
  CHECK(find_cookie("a=1; cats_session=abc; b=2", "cats_session") == "abc");
  CHECK(find_cookie("a=1;cats_session=abc", "cats_session") == "abc");  // lenient about the space
  CHECK(find_cookie("cats_session=\"abc\"", "cats_session") == "abc");
  CHECK(find_cookie("junk; cats_session=abc", "cats_session") == "abc");  // others' sloppiness is skipped
  CHECK_FALSE(find_cookie("a=1", "cats_session"));
  CHECK_FALSE(find_cookie("xcats_session=abc", "cats_session"));
  CHECK_FALSE(find_cookie("cats_session=", "cats_session"));
  CHECK_FALSE(find_cookie("cats_session=a b", "cats_session"));
  CHECK_FALSE(find_cookie("cats_session=a\\b", "cats_session"));
  CHECK_FALSE(find_cookie("cats_session=a\x01", "cats_session"));
  // Two of ours (one may be planted by a sibling domain): refuse rather than guess.
  CHECK_FALSE(find_cookie("cats_session=abc; cats_session=def", "cats_session"));
  CHECK_FALSE(find_cookie("cats_session=" + std::string(kMaxCredential + 1, 'a'), "cats_session"));
}

TEST_CASE("parse_authorization: RFC 9110 credentials with a token68") {
  auto a = parse_authorization("Bearer cats_0123_abcd");
  REQUIRE(a);
  CHECK(a->scheme == "bearer");
  CHECK(a->token == "cats_0123_abcd");
  CHECK(parse_authorization("bEaReR   x==")->token == "x==");
  CHECK(parse_authorization("Basic dXNlcjpwYXNz")->scheme == "basic");
  CHECK_FALSE(parse_authorization("Bearer"));
  CHECK_FALSE(parse_authorization("Bearer "));
  CHECK_FALSE(parse_authorization(" Bearer"));
  CHECK_FALSE(parse_authorization("Bearer a b"));
  CHECK_FALSE(parse_authorization("Bearer a=b"));
  CHECK_FALSE(parse_authorization("Bea(rer x"));
  CHECK_FALSE(parse_authorization("Bearer " + std::string(kMaxCredential + 64, 'a')));
}

TEST_CASE("url_authority: Origin and Referer to host[:port]") {
  CHECK(url_authority("https://CPE.example") == "cpe.example");
  CHECK(url_authority("https://cpe.example:443") == "cpe.example");
  CHECK(url_authority("https://cpe.example:8443/ui/x?y#z") == "cpe.example:8443");
  CHECK(url_authority("http://192.0.2.1:80") == "192.0.2.1");
  CHECK(url_authority("http://192.0.2.1:443") == "192.0.2.1:443");
  CHECK(url_authority("https://[2001:db8::1]:8443") == "[2001:db8::1]:8443");
  CHECK_FALSE(url_authority("null"));
  CHECK_FALSE(url_authority("ftp://cpe"));
  CHECK_FALSE(url_authority("https://user@cpe"));
  CHECK_FALSE(url_authority("https://"));
  CHECK_FALSE(url_authority("https://cpe:0"));
  CHECK_FALSE(url_authority("https://cpe:70000"));
  CHECK_FALSE(url_authority("https://cpe:"));
  CHECK_FALSE(url_authority("https://c pe"));
}

TEST_CASE("host_authority and host_allowed") {
  CHECK(host_authority("CPE:443", true) == "cpe");
  CHECK(host_authority("cpe:443", false) == "cpe:443");
  CHECK(host_authority("cpe:8443", true) == "cpe:8443");
  CHECK_FALSE(host_authority("", true));
  CHECK_FALSE(host_authority("cpe/evil", true));
  CHECK(host_allowed("anything", {}));
  CHECK(host_allowed("cpe", {"cpe"}));
  CHECK(host_allowed("cpe:8443", {"cpe"}));
  CHECK(host_allowed("cpe:8443", {"cpe:8443"}));
  CHECK_FALSE(host_allowed("cpe:9443", {"cpe:8443"}));
  CHECK_FALSE(host_allowed("evil.example", {"cpe", "192.0.2.1"}));
  CHECK(host_allowed("[2001:db8::1]", {"[2001:db8::1]"}));
  CHECK(host_allowed("[2001:db8::1]:8443", {"[2001:db8::1]"}));
}
