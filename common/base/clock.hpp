// Wall-clock milliseconds since the Unix epoch: the unit every stored timestamp uses (the
// history store, the configuration database's revisions, accounts and sessions). Code
// whose decisions depend on time takes an injected clock and converts its reading with
// unix_ms(); only production defaults call unix_ms_now().
#pragma once

#include <chrono>
#include <cstdint>

namespace cats {

inline int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline int64_t unix_ms_now() { return unix_ms(std::chrono::system_clock::now()); }

}  // namespace cats
