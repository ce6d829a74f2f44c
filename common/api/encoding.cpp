#include "api/encoding.hpp"

#include "api/static_files.hpp"

#include <zlib.h>

#include <climits>

namespace cats::api {

Result<std::string> gzip(std::string_view in, int level) {
  if (in.size() > kMaxGzipInput) return Error::msg("gzip: body of " + std::to_string(in.size()) + " bytes is over the limit");
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper (RFC 1952) instead of zlib's (RFC 1950); memLevel 8
  // is zlib's default (deflateInit's).
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Error::msg("gzip: deflateInit2 failed");
  std::string out;
  // deflateBound: the worst case for this input, so one deflate(Z_FINISH) always completes.
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // zlib's API is not const
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t used = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Error::msg("gzip: deflate failed (" + std::to_string(rc) + ")");
  out.resize(used);
  return out;
}

void encode_for(const Request& req, Response& resp) {
  if (!resp.raw || resp.status != 200 || resp.stream || resp.deferred) return;
  resp.headers.emplace_back("Vary", "Accept-Encoding");
  if (negotiate(req.header("accept-encoding"), false, true) != Encoding::gzip) return;
  auto z = gzip(*resp.raw);
  if (!z) return;  // too large, or zlib failed: the plain body is still a correct answer
  resp.raw = std::move(*z);
  resp.headers.emplace_back("Content-Encoding", "gzip");
}

}  // namespace cats::api
