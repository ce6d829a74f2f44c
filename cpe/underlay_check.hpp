// Whether the CPE's kernel will accept what its vCPEs send. cats-cpe sets loose
// reverse-path filtering (rp_filter 2) on its WANs; loose mode (RFC 3704 §2.4) drops a
// packet whose source has no route back at all. Our per-WAN underlay tables are reached
// only by our fwmark, which arriving packets do not carry, so a vCPE endpoint that no
// unmarked lookup routes never completes a WireGuard handshake, silently. The daemon
// warns about it at start (docs/CONFIG.md "First deployment").
#pragma once

#include "base/ip.hpp"
#include "config/config.hpp"
#include "rtnl/rtnl.hpp"

#include <string>
#include <vector>

namespace cats::cpe {

// The vCPEs (by name) whose endpoint no unicast route of `main` (the main table, both
// families) contains.
std::vector<std::string> unrouted_vcpes(const config::CpeConfig& cfg, const std::vector<rtnl::Route>& main);

// Reads the main table and logs a warning per unrouted vCPE; a failed read is only logged
// at debug level (the check is advice, the daemon runs either way).
void warn_unrouted_vcpes(const config::CpeConfig& cfg);

}  // namespace cats::cpe
