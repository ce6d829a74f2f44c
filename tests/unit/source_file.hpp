// Test helper: a file of the source tree (examples, golden text) as a string; empty when
// missing, which the comparing test then reports.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace cats::test {

inline std::string source_file(const std::string& rel) {
  std::ifstream f(std::string(CATS_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace cats::test
