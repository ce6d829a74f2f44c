// Content coding of generated answers (RFC 9110 8.4): gzip (RFC 1952) with zlib's deflate
// (RFC 1951), for bodies built per request such as a /metrics exposition. Prometheus
// sends "Accept-Encoding: gzip" on every scrape; the CPE's 16.7 KB exposition becomes
// 2.7 KB, for ~45 µs more CPU per scrape when the whole text is deflated (docs/BENCHMARKS.md
// "/metrics with gzip"): a win in bytes on a WAN, not in CPU. PartsGzip below reuses the
// deflate output of the parts that did not change, which makes a repeated scrape cost
// about what a plain one does ("/metrics: deflate output reused per part").
#pragma once

#include "api/api.hpp"
#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// The gzip member of a body given as consecutive parts, for an answer rebuilt on every
// request of which most does not change from one request to the next (/metrics: the
// daemon's state changes a few times a second, its request histograms with every request).
// Each part is deflated on its own, from an empty window, and ends on a byte boundary
// (Z_SYNC_FLUSH: an empty stored block, RFC 1951 3.2.4), so a part's deflate output depends
// on its text alone and the member is the parts' outputs one after the other, an empty
// final block and the trailer (the CRC-32 combined from the parts', the total length; RFC
// 1952 2.3.1). A part's output is kept and reused while the part at the same position has
// byte for byte the same text: the text is the key, so nothing it gives is ever stale.
// Thread-safe (one lock around a call; the HTTPS and Unix servers share one).
class PartsGzip {
 public:
  // One gzip member that inflates to the concatenation of `parts`, at kGzipLevel. Fails
  // like gzip(): over kMaxGzipInput in all, or zlib failing.
  Result<std::string> gzip(std::span<const std::string_view> parts);
  // Parts deflated so far, that is not taken from the cache (for tests and the bench).
  uint64_t deflated() const;

 private:
  struct Part {
    std::string text;      // the key
    std::string deflated;  // raw deflate of `text`, ending in a sync flush
    uint32_t crc = 0;      // CRC-32 of `text`
  };
  mutable std::mutex mu_;
  std::vector<Part> parts_;
  uint64_t deflated_ = 0;
};

// encode_for() with the gzip member made by `cache` from `parts`, which must be *resp.raw
// cut into consecutive pieces (the same text: the plain and gzip answers never differ).
void encode_for(const Request& req, Response& resp, PartsGzip& cache, std::span<const std::string_view> parts);

}  // namespace cats::api
