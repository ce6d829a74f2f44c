// The stream route's parameter parsers (common/api/sse.hpp) on arbitrary bytes: ?topics=
// and Last-Event-ID. Besides not crashing, each result must satisfy what the route relies
// on: topics are known names without repeats; an accepted id prints back to its input.
#include "api/sse.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cats::api::sse;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto t = parse_topics(in)) {
    check(!t->empty() && t->size() <= topics().size());
    for (const auto& name : *t) {
      check(std::count(topics().begin(), topics().end(), name) == 1);
      check(std::count(t->begin(), t->end(), name) == 1);
    }
  }
  if (auto id = parse_last_event_id(in)) {
    // Only plain decimal digits are accepted, so the value prints back to the input
    // (less any leading zeros).
    std::string back = std::to_string(*id);
    std::string_view digits = in;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    check(back == digits);
  }
  // A frame is three lines and a blank one, whatever the data (callers pass one line).
  if (in.find('\n') == std::string_view::npos) {
    auto f = frame(42, "paths", in);
    check(std::count(f.begin(), f.end(), '\n') == 4);
  }
  return 0;
}
