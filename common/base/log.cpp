#include "base/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace cats::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mu;
const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "?";
}
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

void write(Level l, std::string_view component, std::string_view msg) {
  if (l < g_level.load()) return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::lock_guard lk(g_mu);
  std::fprintf(stderr, "%lld.%03lld %s [%.*s] %.*s\n", static_cast<long long>(now / 1000),
               static_cast<long long>(now % 1000), name(l), static_cast<int>(component.size()),
               component.data(), static_cast<int>(msg.size()), msg.data());
}

Level parse_level(std::string_view s) {
  if (s == "debug") return Level::debug;
  if (s == "warn") return Level::warn;
  if (s == "error") return Level::error;
  return Level::info;
}

}  // namespace cats::log
