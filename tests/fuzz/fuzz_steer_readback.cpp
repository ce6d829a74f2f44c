// libFuzzer target: the steering read-back (steer::parse_dynamic_json, then
// state_from_dynamic onto a fixed structure) on arbitrary text. libnftables output is
// trusted in practice; this guards the multi-document JSON loop, the shape checks and the
// mark/range arithmetic (no crash, no UB, a result that validates).
#include "fixtures.hpp"  // tests/unit/steer: the two-service structure of the unit tests
#include "steer/steer.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const cats::steer::State kStructure = cats::test::two_services();
  auto d = cats::steer::parse_dynamic_json(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!d) return 0;
  if (auto st = cats::steer::state_from_dynamic(kStructure, *d)) {
    // What adopt returns must be a State plan() accepts.
    if (!cats::steer::validate(*st)) std::abort();
    (void)cats::steer::render_dynamic_update(*d, *st);
  }
  return 0;
}
