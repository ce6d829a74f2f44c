#include "base/secret_file.hpp"

#include "base/fd.hpp"
#include "base/files.hpp"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <sys/random.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace cats {
namespace {

// Cleanses a buffer on every way out unless release()d.
class Cleanser {
 public:
  explicit Cleanser(std::string& s) : s_(&s) {}
  Cleanser(const Cleanser&) = delete;
  Cleanser& operator=(const Cleanser&) = delete;
  ~Cleanser() {
    if (s_) OPENSSL_cleanse(s_->data(), s_->size());
  }
  void release() { s_ = nullptr; }

 private:
  std::string* s_;
};

}  // namespace

Result<std::string> read_secret_file(const std::string& path, std::string_view what, size_t max_bytes) {
  const std::string name = std::string(what) + " " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return Error::sys(errno, "open " + name);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::sys(errno, "stat " + name);
  if (!S_ISREG(st.st_mode)) return Error::msg(name + " is not a regular file");
  // Same rule as ssh for identity files: a secret readable by others is already leaked.
  if ((st.st_mode & 077) != 0) return Error::msg(name + " is accessible by group/others (chmod 600 it)");
  if (st.st_size < 0 || static_cast<uintmax_t>(st.st_size) > max_bytes) return Error::msg(name + " is too large");

  // One allocation, never grown (so no stray copies), large enough to stay out of the
  // small-string buffer: moving the result then hands over this very buffer.
  std::string buf(std::max<size_t>(max_bytes + 1, 64), '\0');
  Cleanser wipe(buf);
  const size_t cap = max_bytes + 1;  // one more than allowed, to notice a file that grew
  size_t len = 0;
  while (len < cap) {
    ssize_t n = ::read(fd.get(), buf.data() + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::sys(errno, "read " + name);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  if (len > max_bytes) return Error::msg(name + " is too large");
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) --len;
  OPENSSL_cleanse(buf.data() + len, buf.size() - len);  // keeps the capacity; wipes the tail
  buf.resize(len);
  wipe.release();
  return Result<std::string>(std::move(buf));
}

Status create_secret_file(const std::string& path, std::string_view text) {
  const std::string dir = parent_dir(path);
  if (dir != "." && dir != "/") CATS_TRY(make_dirs(dir));
  // pid plus random bits: a temp file left by a crashed process whose pid is reused (pid 1
  // in a container) must not make every later start fail with EEXIST.
  uint64_t nonce = 0;
  if (::getrandom(&nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce)) nonce = 0;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(nonce);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::sys(errno, "create " + tmp);
  auto st = write_all(fd.get(), text, tmp);
  if (st && ::fchmod(fd.get(), 0600) != 0) st = Error::sys(errno, "fchmod " + tmp);  // umask-proof
  if (st && ::fsync(fd.get()) != 0) st = Error::sys(errno, "fsync " + tmp);
  fd.reset();
  // RENAME_NOREPLACE: two concurrent creators cannot overwrite each other's file; the
  // loser gets EEXIST and adopts the winner's.
  if (st && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0)
    st = Error::sys(errno, "rename " + tmp + " -> " + path);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  fsync_dir(dir);
  return ok();
}

}  // namespace cats
