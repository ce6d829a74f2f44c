// vcpe/replay_marks: the vCPE's per-CPE replay marks in its state directory.
#include "temp_dir.hpp"
#include "vcpe/replay_marks.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using cats::vcpe::ReplayMarks;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("replay marks: kept across a load, one line per CPE") {
  cats::test::TempDir tmp;
  const std::string path = tmp.path + "/replay-marks";
  auto m = ReplayMarks::load(path, {"branch1", "branch2"});  // no file yet: no marks
  CHECK(m.marks().empty());
  CHECK_FALSE(m.is_replay("branch1", 1));
  REQUIRE(m.accept("branch1", 1000));
  REQUIRE(m.accept("branch2", 7));
  REQUIRE(m.accept("branch1", 1001));
  CHECK(read(path) == "branch1 1001\nbranch2 7\n");

  auto again = ReplayMarks::load(path, {"branch1", "branch2"});
  CHECK(again.dropped() == 0);
  CHECK(again.is_replay("branch1", 1001));
  CHECK(again.is_replay("branch1", 5));
  CHECK_FALSE(again.is_replay("branch1", 1002));
  CHECK(again.is_replay("branch2", 7));
  CHECK_FALSE(again.is_replay("branch3", 1));
}

TEST_CASE("replay marks: lines that are malformed or name a CPE no longer configured are dropped") {
  cats::test::TempDir tmp;
  const std::string path = tmp.path + "/replay-marks";
  std::ofstream(path) << "branch1 50\n"
                         "branch1 40\n"           // the higher of two stays
                         "gone 99\n"              // not configured any more
                         "branch2\n"              // no number
                         "branch2 12x\n"          // not a number
                         "branch2 -3\n"
                         "branch2 99999999999999999999999\n"  // beyond 64 bits
                         "\n"
                         "branch2 " + std::string(200, '9') + "\n";
  auto m = ReplayMarks::load(path, {"branch1", "branch2"});
  CHECK(m.dropped() == 7);
  CHECK(m.marks() == std::map<std::string, uint64_t>{{"branch1", 50}});
}

TEST_CASE("replay marks: a mark that cannot be written still holds for this run") {
  cats::test::TempDir tmp;
  auto m = ReplayMarks::load(tmp.path + "/no/such/dir/replay-marks", {"branch1"});
  auto st = m.accept("branch1", 10);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("replay-marks.tmp") != std::string::npos);
  CHECK(m.is_replay("branch1", 10));
  CHECK_FALSE(m.is_replay("branch1", 11));
}

TEST_CASE("replay marks: a file beyond the bound is not read") {
  cats::test::TempDir tmp;
  const std::string path = tmp.path + "/replay-marks";
  {
    std::ofstream out(path);
    out << "branch1 50\n";
    for (int i = 0; i < 20000; ++i) out << "branch2 " << i << "\n";  // ~260 KB
  }
  auto m = ReplayMarks::load(path, {"branch1", "branch2"});
  CHECK(m.dropped() == 1);
  CHECK(m.marks().empty());
}
