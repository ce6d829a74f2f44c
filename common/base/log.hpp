// Minimal leveled logging to stderr (journald picks it up on an appliance).
// Secrets (private keys) are never passed to these functions.
#pragma once

#include <string_view>

namespace cats::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level l);
// "debug", "warn", "error"; anything else is info (the config validator names the four).
Level parse_level(std::string_view s);
Level level();
void write(Level l, std::string_view component, std::string_view msg);

inline void debug(std::string_view c, std::string_view m) { write(Level::debug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::error, c, m); }

}  // namespace cats::log
