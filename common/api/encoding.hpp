// Content coding of generated answers (RFC 9110 8.4): gzip (RFC 1952) with zlib's deflate
// (RFC 1951), for bodies built per request such as a /metrics exposition. Prometheus
// sends "Accept-Encoding: gzip" on every scrape; the CPE's 16.7 KB exposition becomes
// 2.7 KB, for ~45 µs more CPU per scrape (docs/BENCHMARKS.md "/metrics with gzip"): a
// win in bytes on a WAN, not in CPU.
#pragma once

#include "api/api.hpp"
#include "base/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace cats::api {

// A body larger than this is sent as it is: compressing it would hold the server's one
// thread for tens of milliseconds. The largest /metrics is far below it.
inline constexpr size_t kMaxGzipInput = 4u << 20;
// zlib level 1: most of the size gain at a fraction of level 6's CPU time (the exposition's
// lines repeat their metric and label names, which even the fastest level finds).
inline constexpr int kGzipLevel = 1;

// `in` as one gzip member (10-byte header, deflate data, CRC-32 and length trailer), at
// kGzipLevel. Fails only when zlib does (out of memory) or `in` is larger than
// kMaxGzipInput. Thread-safe (a deflate state per thread, reused).
Result<std::string> gzip(std::string_view in);

// Encodes a raw answer for the client that sent `req`: gzip when its Accept-Encoding accepts
// gzip with q > 0 and prefers it to identity (negotiate(), RFC 9110 12.5.3: "gzip;q=0",
// "identity" alone, or no header at all get the plain body), the body is at most
// kMaxGzipInput and compressing it works. Always adds "Vary: Accept-Encoding" to a
// successful raw answer, compressed or not, since a cache must key on the header either way
// (RFC 9110 12.5.5). Anything else (JSON, errors, streams) is left alone.
void encode_for(const Request& req, Response& resp);

}  // namespace cats::api
