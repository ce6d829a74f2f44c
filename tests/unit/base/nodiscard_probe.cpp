// Compiled, not run (tests/unit/base/CMakeLists.txt): with -DCATS_DROP_STATUS it drops a
// Status on the floor, which must not compile under -Werror=unused-result (issue 14:
// boost::system::result alone is not [[nodiscard]], so a dropped error compiled silently).
#include "base/result.hpp"

namespace {
cats::Status may_fail() { return cats::fail(cats::Error::msg("no")); }
cats::Result<int> may_fail_int() { return 1; }
}  // namespace

int main() {
#ifdef CATS_DROP_STATUS
  may_fail();
#elif defined(CATS_DROP_RESULT)
  may_fail_int();
#else
  return may_fail() ? 1 : (may_fail_int() ? 0 : 1);
#endif
}
