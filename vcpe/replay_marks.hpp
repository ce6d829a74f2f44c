// The last sequence number the vCPE accepted from each CPE (R23: a CPE's sampling plans
// and desired intervals are replay-checked), kept in the vCPE's state directory so that
// a restart does not reopen the window (issue 14): without it, every signed CPE message
// captured before a restart would be taken once more after it.
//
// The mark is written BEFORE the message is acted on (as the CPE's collector does with
// its SQLite store), so no crash can leave a message acted on and its mark unwritten.
// A write that fails (full disk, read-only state) does not refuse the message:
// availability first; the caller counts and logs it, and only then can a restart
// accept a message at or below a mark this run had. The file is tiny (one line per
// configured CPE) and is written when a CPE message is accepted: its desired interval
// every 10 s and its plans when its configuration changes.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace cats::vcpe {

class ReplayMarks {
 public:
  // The marks in `path` (lines "<cpe id> <seq>") of the CPEs in `cpes`; a missing file is
  // no marks. A line that is malformed or names another CPE is dropped and counted in
  // dropped() (the file is ours; a stranger line means someone edited it). A file larger
  // than the bound (1024 lines of 128 bytes) is not read at all: dropped() is 1.
  static ReplayMarks load(std::string path, const std::set<std::string>& cpes);

  // True when seq is at or below the last accepted from cpe.
  bool is_replay(const std::string& cpe, uint64_t seq) const;
  // seq becomes cpe's mark, on disk first. The mark moves in memory even when the
  // write fails (the error says why), so this run still refuses the message's replay.
  Status accept(const std::string& cpe, uint64_t seq);

  size_t dropped() const { return dropped_; }
  const std::map<std::string, uint64_t>& marks() const { return last_; }

 private:
  std::string path_;
  std::map<std::string, uint64_t> last_;
  size_t dropped_ = 0;
};

}  // namespace cats::vcpe
