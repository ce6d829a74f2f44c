// The overlay tests' golden-text comparison: `actual` must equal
// tests/unit/overlay/golden/<name>. To update after an intended change: run test_overlay
// with CATS_UPDATE_GOLDEN=1 and review the diff.
#pragma once

#include "source_file.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

namespace cats::test {

inline void check_golden(const std::string& actual, const std::string& name) {
  const std::string rel = "tests/unit/overlay/golden/" + name;
  if (std::getenv("CATS_UPDATE_GOLDEN")) std::ofstream(std::string(CATS_SOURCE_DIR) + "/" + rel) << actual;
  CHECK(actual == source_file(rel));
}

}  // namespace cats::test
