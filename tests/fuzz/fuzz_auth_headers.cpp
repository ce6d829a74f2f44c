// The credential header parsers (common/auth/headers.hpp) on arbitrary bytes: Cookie
// (RFC 6265 §4.2), Authorization (RFC 9110 §11.6.2), Origin/Referer/Host authorities.
// Besides not crashing, each result must satisfy what callers rely on.
#include "auth/headers.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool printable_no_space(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cats::auth;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto c = find_cookie(in, "cats_session")) {
    check(!c->empty() && c->size() <= kMaxCredential && printable_no_space(*c));
    check(c->find(';') == std::string::npos && c->find('"') == std::string::npos);
  }
  if (auto a = parse_authorization(in)) {
    check(!a->scheme.empty() && !a->token.empty() && printable_no_space(a->token));
    for (char ch : a->scheme) check(!(ch >= 'A' && ch <= 'Z'));
  }
  auto from_url = url_authority(in);
  if (from_url) check(!from_url->empty() && printable_no_space(*from_url) && from_url->find('@') == std::string::npos);
  for (bool https : {true, false}) {
    auto h = host_authority(in, https);
    if (!h) continue;
    // Normalising is idempotent, so Host and Origin compare the same way however sent.
    check(host_authority(*h, https) == h);
    check(host_allowed(*h, {*h}));
    check(host_allowed(*h, {}));
  }
  return 0;
}
