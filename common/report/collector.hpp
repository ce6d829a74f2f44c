// CPE-side validation of metric report datagrams (R8, R10, R23). Pure logic, no sockets:
// the caller reads datagrams from the tunnel-side socket and passes bytes, the source
// address and the time.
//
// Checks, cheapest first, each with its own counter; a rejection changes no state:
//   oversized      datagram > kMaxDatagram
//   malformed      decode_report failed (or another message type)
//   unknown_vcpe   vCPE id not configured
//   peer_mismatch  source address is not one of that vCPE's tunnel addresses (WireGuard
//                  proved which peer sent it; the claimed id must agree)
//   bad_signature  Ed25519 over header+body does not verify with the vCPE's key
//   replay         seq <= last accepted seq of that vCPE
//   stale          timestamp older than max_age, or more than max_future ahead
// Replay and staleness come after the signature so their counters describe genuine
// (authenticated) reports, which is what an operator wants to see.
//
// Replay marks across restarts (issue 14): the last accepted seq per vCPE and stream
// (reports, plan acks) is written through a MarkWriter (the CPE's SQLite store) BEFORE
// the message is accepted, and a new Collector starts from the stored marks. So there is
// no window between accept and persist: after a restart (kill -9 included) or a reload,
// every message at or below a mark the previous run acted on is a replay. The write is one
// small autocommit statement per accepted message (see docs/ARCHITECTURE.md for its cost).
// A write that fails (full disk, store locked past its short busy timeout) does not
// reject the message: availability first; it is counted (mark_write_failures) and logged,
// and only then can a restart accept a report above the stored mark that the previous run
// had already seen. Without a store the marks live in memory only (as before).
#pragma once

#include "report/ed25519.hpp"
#include "report/instance_table.hpp"
#include "report/report.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::report {

enum class Verdict : uint8_t {
  accepted = 0,
  malformed,
  oversized,
  unknown_vcpe,
  peer_mismatch,
  bad_signature,
  replay,
  stale,
};
inline constexpr size_t kVerdictCount = 8;
std::string_view to_string(Verdict v);

struct VcpePeer {
  std::string id;
  PublicKey key;
  std::vector<IpAddress> tunnel_addresses;  // overlay source addresses of this vCPE
};

struct CollectorConfig {
  std::chrono::milliseconds max_interval{10'000};  // the max interval vCPEs are told to use
  std::chrono::seconds max_age{30};                // tolerate queueing and clock skew
  std::chrono::seconds max_future{5};              // clock skew the other way
  std::chrono::seconds log_interval{60};           // one log line per cause per interval
};

// Both clocks: steady for ages inside this process, wall (system) to judge the report's
// unix timestamp.
struct Now {
  std::chrono::steady_clock::time_point mono;
  std::chrono::system_clock::time_point wall;
};

struct AcceptResult {
  Verdict verdict = Verdict::malformed;
  std::optional<Report> report;             // set when accepted
  std::vector<AvailabilityEvent> events;    // availability changes caused by it

  bool accepted() const { return verdict == Verdict::accepted; }
};

// A vCPE's confirmation of a sampling plan (PlanAck), checked as a report is (same
// causes, same order, its own replay sequence), counted apart from reports.
struct AckResult {
  Verdict verdict = Verdict::malformed;
  std::optional<PlanAck> ack;  // set when accepted
  bool accepted() const { return verdict == Verdict::accepted; }
};

// The two sequence streams a vCPE signs (each strictly increasing on its own).
enum class Stream : uint8_t { report, plan_ack };
std::string_view to_string(Stream s);

struct ReplayMark {
  std::string vcpe_id;
  Stream stream = Stream::report;
  uint64_t seq = 0;
};
// Durably records a raised mark; an error is counted and logged, the message still accepted.
using MarkWriter = std::function<Status(const ReplayMark&)>;

class Collector {
 public:
  // `marks`: the stored marks of an earlier run (unknown vCPEs are ignored); `write`:
  // called with each raised mark before the message is accepted (empty: memory only).
  Collector(std::vector<VcpePeer> peers, CollectorConfig cfg = {}, std::vector<ReplayMark> marks = {},
            MarkWriter write = {});

  AcceptResult accept(std::span<const uint8_t> datagram, const IpAddress& source, const Now& now);
  // Datagrams of the plan_ack type (peek_type) go here instead of accept().
  AckResult accept_ack(std::span<const uint8_t> datagram, const IpAddress& source, const Now& now);
  uint64_t ack_count(Verdict v) const { return ack_counters_[static_cast<size_t>(v)]; }
  std::vector<AvailabilityEvent> expire(std::chrono::steady_clock::time_point now) {
    return table_.expire(now, cfg_.max_interval);
  }

  const InstanceTable& table() const { return table_; }
  // InstanceTable::seed_figures: the kept figures of an earlier run.
  void seed_figures(std::map<InstanceKey, InstanceFigures> kept) { table_.seed_figures(std::move(kept)); }
  uint64_t count(Verdict v) const { return counters_[static_cast<size_t>(v)]; }
  // Log lines actually written for a cause (the rest were rate-limited away).
  uint64_t logged(Verdict v) const { return log_[static_cast<size_t>(v)].lines; }
  std::optional<uint64_t> last_seq(const std::string& vcpe_id) const;
  // Marks that could not be written (the message was accepted all the same).
  uint64_t mark_write_failures() const { return mark_write_failures_; }
  const CollectorConfig& config() const { return cfg_; }

 private:
  struct Peer {
    VcpePeer cfg;
    std::optional<uint64_t> last_seq;
    std::optional<uint64_t> last_ack_seq;
  };
  struct LogState {
    std::optional<std::chrono::steady_clock::time_point> last;
    uint64_t suppressed = 0;
    uint64_t lines = 0;
  };

  // The checks after decoding, shared by reports and acks; logs and counts nothing.
  Verdict authenticate(std::span<const uint8_t> signed_bytes, std::span<const uint8_t> signature,
                       const std::string& vcpe_id, uint64_t seq, uint64_t timestamp_ns, const IpAddress& source,
                       const Now& now, bool ack, std::string& detail);
  void log_rejection(Verdict v, const IpAddress& source, std::string_view what, std::string_view detail,
                     std::chrono::steady_clock::time_point now);
  AcceptResult reject(Verdict v, const IpAddress& source, std::string_view detail,
                      std::chrono::steady_clock::time_point now);

  CollectorConfig cfg_;
  std::map<std::string, Peer, std::less<>> peers_;
  InstanceTable table_;
  std::array<uint64_t, kVerdictCount> counters_{};
  std::array<uint64_t, kVerdictCount> ack_counters_{};
  std::array<LogState, kVerdictCount> log_{};
  MarkWriter write_;
  uint64_t mark_write_failures_ = 0;
  LogState mark_log_;
};

}  // namespace cats::report
