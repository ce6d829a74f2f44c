#include "vcpe/replay_marks.hpp"

#include "base/files.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>

namespace cats::vcpe {
namespace {

// Bounds on reading our own file: a line per configured CPE, each a short id and a number.
constexpr size_t kMaxLine = 128;
constexpr size_t kMaxLines = 1024;

}  // namespace

ReplayMarks ReplayMarks::load(std::string path, const std::set<std::string>& cpes) {
  ReplayMarks m;
  m.path_ = std::move(path);
  // A file larger than the bound is not ours (or is corrupt): no line of it is read.
  std::error_code size_ec;
  if (auto size = std::filesystem::file_size(m.path_, size_ec); !size_ec && size > kMaxLine * kMaxLines) {
    m.dropped_ = 1;
    return m;
  }
  std::ifstream in(m.path_);
  std::string line;
  for (size_t n = 0; n < kMaxLines && std::getline(in, line); ++n) {
    auto sp = line.find(' ');
    uint64_t seq = 0;
    const char* end = line.data() + line.size();
    bool ok = line.size() <= kMaxLine && sp != std::string::npos && sp + 1 < line.size();
    if (ok) {
      auto [ptr, ec] = std::from_chars(line.data() + sp + 1, end, seq);
      ok = ec == std::errc() && ptr == end && cpes.count(line.substr(0, sp)) != 0;
    }
    if (!ok) {
      ++m.dropped_;
      continue;
    }
    auto& last = m.last_[line.substr(0, sp)];
    last = std::max(last, seq);
  }
  return m;
}

bool ReplayMarks::is_replay(const std::string& cpe, uint64_t seq) const {
  auto it = last_.find(cpe);
  return it != last_.end() && seq <= it->second;
}

Status ReplayMarks::accept(const std::string& cpe, uint64_t seq) {
  last_[cpe] = seq;
  std::string text;
  for (const auto& [id, s] : last_) text += id + " " + std::to_string(s) + "\n";
  return replace_file(path_, text);
}

}  // namespace cats::vcpe
