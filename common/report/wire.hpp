// Bounded big-endian byte writer/reader used by the report codec (internal header).
// The reader never reads past its span: after the first short read it is "failed", every
// further get returns 0 and the caller checks ok() once at the end of a section.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cats::report::wire {

class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { be(v, 2); }
  void u32(uint32_t v) { be(v, 4); }
  void u64(uint64_t v) { be(v, 8); }
  void f64(double v) { be(std::bit_cast<uint64_t>(v), 8); }
  void bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void str8(std::string_view s) {  // caller has checked s.size() <= 255
    u8(static_cast<uint8_t>(s.size()));
    buf_.insert(buf_.end(), s.begin(), s.end());
  }
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t>& buffer() { return buf_; }

 private:
  void be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> d) : d_(d) {}
  bool ok() const { return ok_; }
  size_t offset() const { return pos_; }
  size_t remaining() const { return d_.size() - pos_; }

  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint16_t u16() { return static_cast<uint16_t>(be(2)); }
  uint32_t u32() { return static_cast<uint32_t>(be(4)); }
  uint64_t u64() { return be(8); }
  double f64() { return std::bit_cast<double>(be(8)); }
  std::span<const uint8_t> bytes(size_t n) {
    if (!take(n)) return {};
    return d_.subspan(pos_ - n, n);
  }
  std::string str8() {
    size_t n = u8();
    auto b = bytes(n);
    return std::string(b.begin(), b.end());
  }

 private:
  bool take(size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  uint64_t be(size_t n) {
    if (!take(n)) return 0;
    uint64_t v = 0;
    for (size_t i = pos_ - n; i < pos_; ++i) v = (v << 8) | d_[i];
    return v;
  }
  std::span<const uint8_t> d_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace cats::report::wire
