// Small durable files in a daemon's state directory: the pieces every writer needs, and
// one way to replace a file so that a crash (kill -9, power loss) leaves either the old
// or the new text, never a torn one (write a temp file, fsync, rename, fsync the
// directory: rename(2) is atomic; the fsyncs make it durable, ext4 "data=ordered" or not).
#pragma once

#include "base/result.hpp"

#include <string>
#include <string_view>

namespace cats {

// mkdir -p with 0700 for whatever we create; existing directories are left as they are
// (they may be shared system directories we have no business chmod-ing).
Status make_dirs(const std::string& dir);
// write(2) until done (EINTR retried); `name` names the file in the error.
Status write_all(int fd, std::string_view data, const std::string& name);
std::string parent_dir(const std::string& path);
// Best effort: a directory we cannot open for fsync is one whose rename is as durable
// as the file system makes it anyway.
void fsync_dir(const std::string& dir);

// Replace `path` by exactly `text` (mode 0600, created if missing), atomically and
// durably as above. On failure `path` is unchanged and no temp file is left.
Status replace_file(const std::string& path, std::string_view text);

}  // namespace cats
