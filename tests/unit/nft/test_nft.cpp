// Nft: input validation (no kernel) and, in a private network namespace, real transactions.
#include "netns_guard.hpp"
#include "nft/nft.hpp"
#include "nft/table.hpp"
#include "source_file.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cats;
using namespace cats::nft;

namespace {

constexpr const char* kScript =
    "table inet cats_t {\n"
    "  chain c { type filter hook prerouting priority 0; }\n"
    "}\n";

Nft open_nft() {
  auto n = Nft::open();
  REQUIRE(n.has_value());
  return std::move(*n);
}

}  // namespace

TEST_CASE("nft: names spliced into commands are validated", "[nft]") {
  Nft nft = open_nft();
  // Refused before libnftables sees them, so these need no privileges.
  CHECK_FALSE(nft.table_exists("inet", "x; flush ruleset").has_value());
  CHECK_FALSE(nft.table_exists("bogus", "cats").has_value());
  CHECK_FALSE(nft.delete_table("inet", "").has_value());
  CHECK_FALSE(nft.delete_table("inet", std::string(100, 'a')).has_value());
}

TEST_CASE("nft: syntax errors carry libnftables' message", "[nft]") {
  Nft nft = open_nft();
  // Parsing fails before any netlink traffic, so this runs unprivileged as well.
  auto st = nft.run("tabel inet cats_t {}\n");
  REQUIRE_FALSE(st.has_value());
  INFO(st.error().message);
  CHECK(st.error().message.rfind("Error:", 0) == 0);  // trimmed, starts with nft's text
  CHECK(st.error().message.back() != '\n');
}

TEST_CASE("nft against the kernel in a private netns", "[lab][nft]") {
  test::PrivateNetns ns;
  INFO(ns.error());
  REQUIRE(ns.ok());
  Nft nft = open_nft();

  auto exists = nft.table_exists("inet", "cats_t");
  REQUIRE(exists.has_value());
  CHECK_FALSE(*exists);

  auto st = nft.run(kScript);
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st.has_value());
  exists = nft.table_exists("inet", "cats_t");
  REQUIRE(exists.has_value());
  CHECK(*exists);
  // Same name, other family: a different table.
  exists = nft.table_exists("ip", "cats_t");
  REQUIRE(exists.has_value());
  CHECK_FALSE(*exists);

  auto before = nft.query("list table inet cats_t");
  REQUIRE(before.has_value());
  CHECK(before->find("chain c") != std::string::npos);

  // Second command fails in the kernel (no such chain); the whole transaction, including
  // the first command's new chain, must be rolled back.
  auto broken = nft.run(
      "add chain inet cats_t c2\n"
      "add rule inet cats_t no_such_chain accept\n");
  REQUIRE_FALSE(broken.has_value());
  INFO(broken.error().message);
  CHECK(broken.error().message.find("Error:") != std::string::npos);
  CHECK(broken.error().message.find("No such file or directory") != std::string::npos);
  auto after = nft.query("list table inet cats_t");
  REQUIRE(after.has_value());
  CHECK(*after == *before);

  // A syntax error also leaves the table as it was.
  REQUIRE_FALSE(nft.run("add chain inet cats_t c3\nflush tabel inet cats_t\n").has_value());
  after = nft.query("list table inet cats_t");
  REQUIRE(after.has_value());
  CHECK(*after == *before);

  // Buffers are drained per command: a later success carries no stale error text.
  REQUIRE(nft.run("add chain inet cats_t c4\n").has_value());

  for (int i = 0; i < 2; ++i) {
    auto del = nft.delete_table("inet", "cats_t");
    INFO((del ? std::string() : del.error().message));
    CHECK(del.has_value());
  }
  exists = nft.table_exists("inet", "cats_t");
  REQUIRE(exists.has_value());
  CHECK_FALSE(*exists);

  auto missing = nft.query("list table inet cats_t");
  CHECK_FALSE(missing.has_value());
}

TEST_CASE("nft: query_json is JSON for that command only", "[lab][nft]") {
  test::PrivateNetns ns;
  REQUIRE(ns.ok());
  auto opened = nft::Nft::open();
  REQUIRE(opened.has_value());
  auto& nft = *opened;
  REQUIRE(nft.run("table inet cats_j {\n\tmap m {\n\t\ttype mark : mark\n\t\telements = { 0x01010000 : 0x02020000 }\n\t}\n}\n")
              .has_value());
  auto j = nft.query_json("list map inet cats_j m");
  REQUIRE(j.has_value());
  CHECK(j->find("\"elem\": [[16842752, 33685504]]") != std::string::npos);
  // The next plain query is text again.
  auto t = nft.query("list map inet cats_j m");
  REQUIRE(t.has_value());
  CHECK(t->find("elements = { 0x01010000 : 0x02020000 }") != std::string::npos);
  CHECK_FALSE(nft.query_json("list map inet cats_j absent").has_value());
  REQUIRE(nft.delete_table("inet", "cats_j").has_value());
}

TEST_CASE("nft: the CPE's WAN input filter (golden script) is what the kernel takes", "[lab][nft]") {
  // The golden text of tests/unit/overlay/test_input_filter.cpp, sent as the Applier sends
  // it (replace_table_script): accepted, listed with its fingerprint and counter, and the
  // same script again replaces it in one transaction.
  const std::string script = test::source_file("tests/unit/overlay/golden/cpe_input.nft");
  REQUIRE_FALSE(script.empty());
  test::PrivateNetns ns;
  REQUIRE(ns.ok());
  Nft nft = open_nft();
  for (int i = 0; i < 2; ++i) {
    auto st = nft.run(script);
    INFO((st ? std::string() : st.error().message));
    REQUIRE(st.has_value());
  }
  auto listing = nft.list_table("inet", "cats_input");
  REQUIRE(listing.has_value());
  REQUIRE(listing->has_value());
  CHECK(nft::table_fingerprint(**listing) == "FP");
  CHECK((*listing)->find("policy drop;") != std::string::npos);
  auto counter = nft.query("list counter inet cats_input wan_input_dropped");
  REQUIRE(counter.has_value());
  CHECK(counter->find("packets 0 bytes 0") != std::string::npos);
  REQUIRE(nft.delete_table("inet", "cats_input").has_value());
}
