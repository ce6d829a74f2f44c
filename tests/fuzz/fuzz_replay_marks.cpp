// The vCPE's replay-marks file (vcpe/replay_marks.hpp) on arbitrary bytes: the file is
// ours, but a disk, an editor or a torn write from an older build can leave anything in
// it. Besides not crashing: only configured CPEs get a mark, and what accept() writes
// reads back exactly, with nothing dropped.
#include "vcpe/replay_marks.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const std::string& dir() {
  static const std::string d = [] {
    char t[] = "/tmp/fuzz_replay_marks.XXXXXX";
    check(mkdtemp(t) != nullptr);
    return std::string(t);
  }();
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cats::vcpe::ReplayMarks;
  const std::set<std::string> cpes{"branch1", "b"};
  const std::string path = dir() + "/replay-marks";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  auto m = ReplayMarks::load(path, cpes);
  for (const auto& [cpe, seq] : m.marks()) {
    check(cpes.count(cpe) == 1);
    check(m.is_replay(cpe, seq));
    check(seq == UINT64_MAX || !m.is_replay(cpe, seq + 1));
  }
  if (m.marks().empty()) return 0;
  auto expect = m.marks();
  const std::string first = expect.begin()->first;
  const uint64_t next = expect.begin()->second + 1;
  if (next == 0) return 0;  // the mark was UINT64_MAX: nothing is newer
  expect[first] = next;
  check(static_cast<bool>(m.accept(first, next)));
  auto again = ReplayMarks::load(path, cpes);
  check(again.dropped() == 0);
  check(again.marks() == expect);
  return 0;
}
