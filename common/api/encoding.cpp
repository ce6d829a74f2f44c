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
  // windowBits 15 + 16: a gzip wrapper (RFC 1952) instead of zlib's (RFC 1950); -15: raw
  // deflate (RFC 1951), for PartsGzip, which writes the wrapper itself.
  // memLevel 5 (zlib's default is 8): a 4 K-entry hash table, the same output size on
  // an exposition (repeated names are close together) at less memory to clear.
  explicit Deflater(int window_bits) {
    ok_ = deflateInit2(&z_, kGzipLevel, Z_DEFLATED, window_bits, 5, Z_DEFAULT_STRATEGY) == Z_OK;
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
  thread_local Deflater deflater(15 + 16);
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

namespace {

// Raw deflate of `in` from an empty window, ending in a sync flush (byte-aligned, no final
// block), so that it can be followed by another part's output.
Result<std::string> deflate_part(std::string_view in) {
  thread_local Deflater deflater(-15);
  z_stream* z = deflater.fresh();
  if (!z) return Error::msg("gzip: no deflate state");
  std::string out;
  // deflateBound covers the data and its end; the sync flush's empty stored block adds up
  // to 5 bytes (zlib.h, Z_SYNC_FLUSH), rounded up.
  out.resize(deflateBound(z, static_cast<uLong>(in.size())) + 16);
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // zlib's API is not const
  z->avail_in = static_cast<uInt>(in.size());
  z->next_out = reinterpret_cast<Bytef*>(out.data());
  z->avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(z, Z_SYNC_FLUSH);
  // Room left means the flush completed (zlib.h: with avail_out == 0 it must be called again).
  if (rc != Z_OK || z->avail_in != 0 || z->avail_out == 0)
    return Error::msg("gzip: deflate failed (" + std::to_string(rc) + ")");
  out.resize(z->total_out);
  return out;
}

void put_le32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// Whether `resp` is an answer encode_for encodes for `req`; adds Vary to every answer it may encode.
bool wants_gzip(const Request& req, Response& resp) {
  if (!resp.raw || resp.status != 200 || resp.stream || resp.deferred) return false;
  resp.headers.emplace_back("Vary", "Accept-Encoding");
  return negotiate(req.header("accept-encoding"), false, true) == Encoding::gzip;
}

}  // namespace

Result<std::string> PartsGzip::gzip(std::span<const std::string_view> parts) {
  size_t total = 0;
  for (auto p : parts) total += p.size();
  if (total > kMaxGzipInput) return Error::msg("gzip: body of " + std::to_string(total) + " bytes is over the limit");
  std::lock_guard lk(mu_);
  if (parts_.size() != parts.size()) parts_.resize(parts.size());
  // RFC 1952 2.3: ID1 ID2, CM 8 (deflate), FLG 0, MTIME 0 (none), XFL 4 (fastest
  // compression, as zlib writes it at level 1), OS 3 (Unix).
  static constexpr char kHeader[] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 4, 3};
  std::string out(kHeader, sizeof kHeader);
  uint32_t crc = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto& p = parts_[i];
    if (p.deflated.empty() || p.text != parts[i]) {
      auto d = deflate_part(parts[i]);
      if (!d) {
        p = {};  // nothing half-updated is kept
        return d.error();
      }
      p.text.assign(parts[i]);
      p.deflated = std::move(*d);
      p.crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(p.text.data()), static_cast<uInt>(p.text.size())));
      ++deflated_;
    }
    out += p.deflated;
    crc = static_cast<uint32_t>(crc32_combine(crc, p.crc, static_cast<z_off_t>(p.text.size())));
  }
  // An empty final block with fixed codes (RFC 1951 3.2.3, 3.2.6: BFINAL 1, BTYPE 01, the
  // 7-bit end-of-block code 0): ends the deflate data after the last part's sync flush.
  out += '\x03';
  out += '\x00';
  put_le32(out, crc);
  put_le32(out, static_cast<uint32_t>(total));  // ISIZE: the length modulo 2^32
  return out;
}

uint64_t PartsGzip::deflated() const {
  std::lock_guard lk(mu_);
  return deflated_;
}

void encode_for(const Request& req, Response& resp) {
  if (!wants_gzip(req, resp)) return;
  auto z = gzip(*resp.raw);
  if (!z) return;  // too large, or zlib failed: the plain body is still a correct answer
  resp.raw = std::move(*z);
  resp.headers.emplace_back("Content-Encoding", "gzip");
}

void encode_for(const Request& req, Response& resp, PartsGzip& cache, std::span<const std::string_view> parts) {
  if (!wants_gzip(req, resp)) return;
  auto z = cache.gzip(parts);
  if (!z) return;  // as above
  resp.raw = std::move(*z);
  resp.headers.emplace_back("Content-Encoding", "gzip");
}

}  // namespace cats::api
