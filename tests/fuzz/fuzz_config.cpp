// Config parser: arbitrary bytes must yield a config or a clear error, never a crash.
#include "config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = cats::config::parse_cpe(text, "fuzz.toml");
  auto v = cats::config::parse_vcpe(text, "fuzz.toml");
  // A rejected config must say why.
  if (!c && c.error().message.empty()) __builtin_trap();
  if (!v && v.error().message.empty()) __builtin_trap();
  return 0;
}
