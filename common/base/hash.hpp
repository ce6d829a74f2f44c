// Small non-cryptographic hashes.
#pragma once

#include <string>
#include <string_view>

namespace cats {

// FNV-1a 64 of `s` as 16 lower-case hex digits. Cheap and stable across builds and
// platforms: the overlay and the steering data plane store it in nft table comments
// ("cats:<hex>") so that a restarted daemon recognises the table it would write. The
// output must never change (existing tables would all be replaced once).
//
// Not the published FNV-1a 64 values: the offset basis is 1469598103934665603
// (0x14650fb0739d0383), one digit short of FNV's 14695981039346656037 (0xcbf29ce484222325),
// as cats has always written it. Kept as is, because changing it changes every comment;
// the prime (1099511628211) is FNV's, so the mixing is the same.
std::string fnv1a_hex(std::string_view s);

}  // namespace cats
