// Small secret files (private keys): read with the ssh-style permission check, and
// create atomically without ever replacing an existing file. Contents are never logged
// and never put into error messages; `what` ("key file", "signing key") names the file
// in them.
#pragma once

#include "base/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace cats {

// Read `path` (not following a final symlink), refusing anything that is not a regular
// file, is accessible by group/others, or is larger than `max_bytes`. Returns the text
// with trailing '\n', '\r' and ' ' removed; intermediate buffers are cleansed, and the
// caller should OPENSSL_cleanse the returned string once done with it.
Result<std::string> read_secret_file(const std::string& path, std::string_view what, size_t max_bytes);

// Create `path` holding exactly `text`: mkdir -p the parent (0700 for directories it
// creates), write an O_EXCL temp file (0600, fchmod'ed against the umask) next to it,
// fsync, rename it into place without replacing, then fsync the directory. If `path`
// already exists (e.g. another process won a creation race) the Error's sys_errno is
// EEXIST and `path` is left untouched. `text` is not copied; the caller cleanses it.
Status create_secret_file(const std::string& path, std::string_view text);

}  // namespace cats
