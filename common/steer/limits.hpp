// The steering data plane's limits, defined once: steer.hpp renders with them and
// config.cpp refuses, at load and as a field error, a configuration beyond them.
#pragma once

#include <cstdint>

namespace cats::steer {

// The candidate id is the top byte of the packet and conntrack mark (steer.hpp "Mark
// layout"): ids 1..255, 0 meaning "no candidate drawn".
inline constexpr uint32_t kCandidateMask = 0xff000000;
inline constexpr int kCandidateShift = 24;
inline constexpr int kMaxCandidates = static_cast<int>(kCandidateMask >> kCandidateShift);  // all services together
inline constexpr int kMaxCandidatesPerService = 64;  // a service's weight map
inline constexpr int kMaxWans = 15;                  // path bits 0x000f0000 of the mark
static_assert(kMaxCandidates == 255);

}  // namespace cats::steer
