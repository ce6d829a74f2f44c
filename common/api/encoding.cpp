#include "api/encoding.hpp"

#include "api/static_files.hpp"

#include <zlib.h>


namespace cats::api {

namespace {

// One deflate state per thread, reset between bodies: deflateInit2 + deflateEnd per body
// allocate and clear the whole state each time (in a loop on a 19 KB exposition: 47–122 µs
// a body with zlib's default memLevel, 29–36 µs with a reset; in the daemon the difference
// was within the noise, docs/BENCHMARKS.md "/metrics with gzip"). Per thread because each
// server runs its handlers on its own thread; the state lives as long as that thread
// (~80 KB with the parameters below).
class Deflater {
 public:
  Deflater() {
    // windowBits 15 + 16: a gzip wrapper (RFC 1952) instead of zlib's (RFC 1950).
    // memLevel 5 (zlib's default is 8): a 4 K-entry hash table, the same output size on
    // an exposition (repeated names are close together) at less memory to clear.
    ok_ = deflateInit2(&z_, kGzipLevel, Z_DEFLATED, 15 + 16, 5, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  // The state, ready for a new body; nullptr when zlib could not make one.
  z_stream* fresh() { return ok_ && deflateReset(&z_) == Z_OK ? &z_ : nullptr; }

 private:
  z_stream z_{};
  bool ok_ = false;
};

}  // namespace

Result<std::string> gzip(std::string_view in) {
  if (in.size() > kMaxGzipInput) return Error::msg("gzip: body of " + std::to_string(in.size()) + " bytes is over the limit");
  thread_local Deflater deflater;
  z_stream* z = deflater.fresh();
  if (!z) return Error::msg("gzip: no deflate state");
  std::string out;
  // deflateBound: the worst case for this input, so one deflate(Z_FINISH) always completes.
  out.resize(deflateBound(z, static_cast<uLong>(in.size())));
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // zlib's API is not const
  z->avail_in = static_cast<uInt>(in.size());
  z->next_out = reinterpret_cast<Bytef*>(out.data());
  z->avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(z, Z_FINISH);
  if (rc != Z_STREAM_END) return Error::msg("gzip: deflate failed (" + std::to_string(rc) + ")");
  out.resize(z->total_out);
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
