#include "base/ip.hpp"
#include "base/process.hpp"

#include <catch2/catch.hpp>

using namespace cats;

TEST_CASE("prefix parsing keeps host bits and validates length") {
  auto p = parse_prefix("10.1.2.3/24");
  REQUIRE(p.has_value());
  CHECK(p->to_string() == "10.1.2.3/24");
  CHECK(p->network().to_string() == "10.1.2.0/24");
  CHECK(p->contains(*parse_address("10.1.2.200")));
  CHECK_FALSE(p->contains(*parse_address("10.1.3.1")));
  CHECK(parse_prefix("10.0.0.1")->length == 32);
  CHECK(parse_prefix("2001:db8::/32")->network().to_string() == "2001:db8::/32");
  CHECK_FALSE(parse_prefix("10.0.0.0/33").has_value());
  CHECK_FALSE(parse_prefix("10.0.0.0/").has_value());
  CHECK_FALSE(parse_prefix("10.0.0/8").has_value());
  CHECK_FALSE(parse_prefix("10.0.0.0/8x").has_value());
}

TEST_CASE("endpoints parse both families and reject junk") {
  CHECK(endpoint_to_string(*parse_endpoint("192.0.2.1:51820")) == "192.0.2.1:51820");
  CHECK(endpoint_to_string(*parse_endpoint("[2001:db8::1]:1")) == "[2001:db8::1]:1");
  CHECK_FALSE(parse_endpoint("192.0.2.1").has_value());
  CHECK_FALSE(parse_endpoint("192.0.2.1:0").has_value());
  CHECK_FALSE(parse_endpoint("192.0.2.1:65536").has_value());
  CHECK_FALSE(parse_endpoint("2001:db8::1:80").has_value());
}

TEST_CASE("run_command captures output and exit status") {
  auto r = run_command({"/bin/sh", "-c", "echo hi; exit 3"});
  REQUIRE(r.has_value());
  CHECK(r->output == "hi\n");
  CHECK(r->exit_status == 3);
  auto t = run_command({"/bin/sleep", "5"}, std::chrono::milliseconds(50));
  CHECK_FALSE(t.has_value());
}
