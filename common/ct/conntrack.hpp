// ctnetlink (NFNL_SUBSYS_CTNETLINK) over the shared netlink::Socket, RAII: just what steering needs.
// Message construction is separate from the socket so tests compare golden bytes.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace cats::ct {

class Conntrack {
 public:
  static Result<Conntrack> open();
  Conntrack(Conntrack&&) noexcept;
  Conntrack& operator=(Conntrack&&) noexcept;
  ~Conntrack();

  // Delete every conntrack entry of `family` (AF_INET / AF_INET6) with
  // (ct mark & mask) == mark, in one IPCTNL_MSG_CT_DELETE without a tuple (the kernel's
  // filtered flush). Entries of other marks are not touched.
  Status delete_by_mark(int family, uint32_t mark, uint32_t mask);
  // Number of entries of `family` with (ct mark & mask) == mark (dump; tests and the API).
  Result<size_t> count_by_mark(int family, uint32_t mark, uint32_t mask);

 private:
  struct Impl;
  explicit Conntrack(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The delete request (exposed for golden-byte tests).
std::vector<uint8_t> build_delete_by_mark(int family, uint32_t seq, uint32_t mark, uint32_t mask);
// The dump request (IPCTNL_MSG_CT_GET, NLM_F_DUMP) with the same mark filter.
std::vector<uint8_t> build_dump_by_mark(int family, uint32_t seq, uint32_t mark, uint32_t mask);

// One datagram of replies to the dump `seq`, checked by hand before anything is read
// (lengths bounded by the datagram; no libmnl walk over unchecked input). Entries are
// counted only when their CTA_MARK (absent = 0) matches (mark & mask): the kernel filters
// already, this keeps the count honest should it not. Other sequence numbers are skipped.
struct DumpChunk {
  size_t entries = 0;
  bool done = false;  // NLMSG_DONE seen
};
Result<DumpChunk> parse_dump_datagram(std::span<const uint8_t> dg, uint32_t seq, uint32_t mark, uint32_t mask);

}  // namespace cats::ct
