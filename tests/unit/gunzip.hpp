// Test helper: inflates one gzip member (RFC 1952) with zlib, to compare a gzip-encoded
// answer with its plain text. Fails the test on a malformed stream or trailing bytes.
#pragma once

#include <catch2/catch.hpp>
#include <zlib.h>

#include <string>
#include <string_view>

namespace cats::test {

inline std::string gunzip(std::string_view in) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);  // 15 + 16: gzip wrapper only (zlib.h)
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  const uInt left = z.avail_in;
  inflateEnd(&z);
  CHECK(rc == Z_STREAM_END);  // the trailer's CRC-32 and length matched
  CHECK(left == 0);           // one member, nothing after it
  return out;
}

}  // namespace cats::test
