#include "base/files.hpp"

#include "base/fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cats {

Status make_dirs(const std::string& dir) {
  if (dir.empty()) return ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error::msg(dir + " exists and is not a directory");
    return ok();
  }
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) CATS_TRY(make_dirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::sys(errno, "mkdir " + dir);
  return ok();
}

Status write_all(int fd, std::string_view data, const std::string& name) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::sys(errno, "write " + name);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

void fsync_dir(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d) ::fsync(d.get());
}

Status replace_file(const std::string& path, std::string_view text) {
  // One writer per path (the daemon's own state), so a fixed temp name is enough; a temp
  // file left by a crash is truncated and reused by the next write.
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::sys(errno, "create " + tmp);
  auto st = write_all(fd.get(), text, tmp);
  if (st && ::fsync(fd.get()) != 0) st = Error::sys(errno, "fsync " + tmp);
  fd.reset();
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = Error::sys(errno, "rename " + tmp + " -> " + path);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  fsync_dir(parent_dir(path));
  return ok();
}

}  // namespace cats
