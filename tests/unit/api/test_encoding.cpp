// gzip content coding of generated answers (api/encoding.hpp): negotiation per RFC 9110
// 12.5.3, the gzip member itself (RFC 1952), Vary, and what is never encoded.
#include "api/encoding.hpp"
#include "gunzip.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string_view>
#include <thread>
#include <vector>

using namespace cats;
using namespace cats::api;
using test::gunzip;

namespace {

// A /metrics-like body: repetitive lines, as an exposition is.
std::string exposition() {
  std::string s;
  for (int i = 0; i < 200; ++i)
    s += "cats_path_rtt_seconds{wan=\"wan" + std::to_string(i % 3) + "\",vcpe=\"cloud" + std::to_string(i) + "\"} 0.0" +
         std::to_string(i) + "\n";
  return s;
}

Request asking(std::optional<std::string> accept_encoding) {
  Request r;
  r.method = "GET";
  r.path = "/metrics";
  if (accept_encoding) r.headers["accept-encoding"] = *accept_encoding;
  return r;
}

std::string header(const Response& r, const std::string& name) {
  std::string out;
  for (const auto& [k, v] : r.headers)
    if (k == name) out += (out.empty() ? "" : "|") + v;
  return out;
}

// The answer encode_for makes for `body` to a client sending `accept_encoding`.
Response encoded(const std::string& body, std::optional<std::string> accept_encoding) {
  auto r = Response::text(body, "text/plain; version=0.0.4; charset=utf-8");
  encode_for(asking(std::move(accept_encoding)), r);
  return r;
}

}  // namespace

TEST_CASE("gzip makes one RFC 1952 member that inflates to the input") {
  const auto text = exposition();
  auto z = gzip(text);
  REQUIRE(z);
  REQUIRE(z->size() > 18);
  // ID1 ID2 CM (RFC 1952 2.3.1): 0x1f 0x8b, deflate.
  CHECK(static_cast<unsigned char>((*z)[0]) == 0x1f);
  CHECK(static_cast<unsigned char>((*z)[1]) == 0x8b);
  CHECK((*z)[2] == 8);
  CHECK(z->size() * 4 < text.size());  // an exposition's repeated names compress well
  CHECK(gunzip(*z) == text);
  auto empty = gzip("");
  REQUIRE(empty);
  CHECK(gunzip(*empty).empty());
}

TEST_CASE("gzip's reused deflate state starts every member afresh, on every thread") {
  const auto a = exposition();
  const std::string b = "cats_build_info{version=\"1\"} 1\n";
  auto za = gzip(a);
  auto zb = gzip(b);
  auto za2 = gzip(a);
  REQUIRE((za && zb && za2));
  CHECK(gunzip(*zb) == b);  // nothing of the previous body carried over
  CHECK(*za2 == *za);       // same input, same member
  std::string other;
  std::thread t([&] {
    auto z = gzip(b);
    other = z ? *z : std::string();
  });
  t.join();
  CHECK(other == *zb);
}

TEST_CASE("gzip refuses a body over the bound") {
  CHECK(gzip(std::string(kMaxGzipInput, 'a')));
  CHECK_FALSE(gzip(std::string(kMaxGzipInput + 1, 'a')));
}

TEST_CASE("encode_for: gzip only for a client that asks for it, always with Vary") {
  const auto text = exposition();
  SECTION("no Accept-Encoding: the plain text") {
    auto r = encoded(text, std::nullopt);
    CHECK(*r.raw == text);
    CHECK(header(r, "Content-Encoding").empty());
    CHECK(header(r, "Vary") == "Accept-Encoding");
  }
  SECTION("what Prometheus sends") {
    auto r = encoded(text, "gzip");
    CHECK(header(r, "Content-Encoding") == "gzip");
    CHECK(header(r, "Vary") == "Accept-Encoding");
    CHECK(r.raw->size() < text.size());
    CHECK(gunzip(*r.raw) == text);
    CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");  // the type is the text's
  }
  // RFC 9110 12.5.3: codings are case-insensitive, x-gzip is gzip, "*" matches any coding
  // not listed, q=0 means "not acceptable", and the highest q wins over identity.
  struct Row {
    const char* header;
    bool gzip;
  };
  const Row rows[] = {
      {"gzip, deflate, br", true},
      {"GZIP", true},
      {"x-gzip", true},
      {"*", true},
      {"gzip;q=0.1, identity;q=0", true},
      {"deflate;q=1, gzip;q=0.5", true},
      {"", false},
      {"identity", false},
      {"deflate, br", false},
      {"gzip;q=0", false},
      {"gzip; q=0.000", false},
      {"*;q=0, identity", false},
      {"*, gzip;q=0", false},
      {"gzip;q=0.5, identity", false},  // identity (q=1) is preferred
  };
  for (const auto& row : rows) {
    INFO("Accept-Encoding: " << row.header);
    auto r = encoded(text, row.header);
    CHECK(header(r, "Vary") == "Accept-Encoding");
    if (row.gzip) {
      CHECK(header(r, "Content-Encoding") == "gzip");
      CHECK(gunzip(*r.raw) == text);
    } else {
      CHECK(header(r, "Content-Encoding").empty());
      CHECK(*r.raw == text);
    }
  }
}

TEST_CASE("encode_for leaves JSON, errors and oversized bodies as they are") {
  auto json = Response::json({{"ok", true}});
  encode_for(asking("gzip"), json);
  CHECK(json.headers.empty());
  CHECK_FALSE(json.raw);

  auto err = Response::text("not here", "text/plain", 404);
  encode_for(asking("gzip"), err);
  CHECK(err.headers.empty());
  CHECK(*err.raw == "not here");

  const std::string big(kMaxGzipInput + 1, 'm');
  auto r = encoded(big, "gzip");
  CHECK(header(r, "Content-Encoding").empty());
  CHECK(header(r, "Vary") == "Accept-Encoding");
  CHECK(r.raw->size() == big.size());
}

namespace {
// The member a new PartsGzip (nothing cached) makes of `parts`.
std::string fresh_gzip(std::vector<std::string_view> parts) {
  PartsGzip z;
  auto out = z.gzip(parts);
  REQUIRE(out);
  return *out;
}
}  // namespace

TEST_CASE("PartsGzip: one gzip member of the parts, each deflated only when its text changed") {
  const std::string state = exposition();
  std::string requests = "cats_api_request_duration_seconds_count{route=\"/metrics\",code=\"200\"} 1\n";
  PartsGzip z;
  auto call = [&](std::vector<std::string_view> parts) {
    auto out = z.gzip(parts);
    REQUIRE(out);
    std::string whole;
    for (auto p : parts) whole += p;
    CHECK(gunzip(*out) == whole);            // one member, CRC-32 and length right
    CHECK(*out == fresh_gzip(parts));        // a cached part gives the bytes a fresh one would
    CHECK(static_cast<unsigned char>((*out)[0]) == 0x1f);
    return *out;
  };
  call({state, requests});
  CHECK(z.deflated() == 2);
  SECTION("nothing changed: nothing deflated") {
    call({state, requests});
    CHECK(z.deflated() == 2);
  }
  SECTION("the second part changed: only it is deflated again") {
    requests.back() = '2';
    requests += "x 1\n";
    call({state, requests});
    CHECK(z.deflated() == 3);
    call({state, requests});
    CHECK(z.deflated() == 3);
  }
  SECTION("the first part changed by one byte: it is deflated again, the second reused") {
    std::string s2 = state;
    s2[s2.size() / 2] ^= 1;
    call({s2, requests});
    CHECK(z.deflated() == 3);
    call({state, requests});  // back to the old text: deflated again (one entry per position)
    CHECK(z.deflated() == 4);
  }
  SECTION("more, fewer and empty parts") {
    call({state, requests, state});
    CHECK(z.deflated() == 3);
    call({state});
    CHECK(z.deflated() == 3);
    call({"", state, ""});
    CHECK(z.deflated() == 6);
    call({});
    call({"", ""});
  }
  SECTION("the same part texts at swapped positions are not mistaken for each other") {
    call({requests, state});
    CHECK(z.deflated() == 4);
  }
}

TEST_CASE("PartsGzip: about as small as gzip() of the whole text (a part cannot refer into the one before)") {
  const std::string a = exposition(), b = exposition();
  PartsGzip z;
  const std::string_view parts[] = {a, b};
  auto two = z.gzip(parts);
  auto whole = gzip(a + b);
  REQUIRE((two && whole));
  // b repeats a: the whole member refers back into a, the parts cannot (each starts
  // afresh), so allow b's own compressed size.
  auto one = gzip(b);
  REQUIRE(one);
  CHECK(two->size() <= whole->size() + one->size());
  CHECK(two->size() * 4 < a.size() + b.size());
}

TEST_CASE("PartsGzip refuses parts over the bound in all, and keeps working") {
  PartsGzip z;
  const std::string big(kMaxGzipInput / 2 + 1, 'a');
  const std::string_view parts[] = {big, big};
  CHECK_FALSE(z.gzip(parts));
  CHECK(z.deflated() == 0);
  const std::string_view ok[] = {big};
  auto out = z.gzip(ok);
  REQUIRE(out);
  CHECK(gunzip(*out) == big);
}

TEST_CASE("encode_for with PartsGzip: the same negotiation, the parts' member") {
  const std::string a = exposition(), b = "x 1\n";
  PartsGzip z;
  const std::string_view parts[] = {a, b};
  auto r = Response::text(a + b, "text/plain; version=0.0.4; charset=utf-8");
  encode_for(asking("gzip"), r, z, parts);
  CHECK(header(r, "Content-Encoding") == "gzip");
  CHECK(header(r, "Vary") == "Accept-Encoding");
  CHECK(gunzip(*r.raw) == a + b);
  auto plain = Response::text(a + b, "text/plain; version=0.0.4; charset=utf-8");
  encode_for(asking("identity"), plain, z, parts);
  CHECK(header(plain, "Content-Encoding").empty());
  CHECK(header(plain, "Vary") == "Accept-Encoding");
  CHECK(*plain.raw == a + b);
  auto err = Response::error(404, "no");
  encode_for(asking("gzip"), err, z, parts);
  CHECK(err.headers.empty());
}
