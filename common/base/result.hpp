// Expected failures travel as values (Result<T>); broken invariants abort.
// Error carries a human-readable message for operators and, where the failure came from
// the OS, the errno so callers can treat e.g. EEXIST or EOPNOTSUPP specially.
#pragma once

#include <boost/system/result.hpp>
#include <boost/assert/source_location.hpp>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cats {

struct Error {
  std::string message;
  int sys_errno = 0;  // 0 when the failure is not an OS error

  // Two arguments, so that Result<std::string> never confuses a value with an error.
  Error() = default;
  Error(std::string m, int e) : message(std::move(m)), sys_errno(e) {}

  static Error sys(int err, std::string what) {
    return Error{std::move(what) + ": " + std::strerror(err), err};
  }
  static Error msg(std::string what) { return Error{std::move(what), 0}; }
  // Prefix context ("wan1: " + "...") while keeping the errno.
  Error context(const std::string& where) const { return Error{where + ": " + message, sys_errno}; }
};

inline std::ostream& operator<<(std::ostream& os, const Error& e) { return os << e.message; }

// Called by boost::system::result<T, Error>::value() on an error.
[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

// boost::system::result is not [[nodiscard]] in Boost 1.81, so an ignored Status compiled
// silently. Expected is the same type with the attribute: dropping one is a warning (an
// error under CATS_WERROR). Deliberately ignoring one says so: `(void)f();` plus why.
template <class T, class E>
class [[nodiscard]] Expected : public boost::system::result<T, E> {
  using base = boost::system::result<T, E>;

 public:
  using base::base;
  Expected(base b) : base(std::move(b)) {}  // NOLINT: implicit by design, like the base's
};

template <class T>
using Result = Expected<T, Error>;
using Status = Expected<void, Error>;

inline Status ok() { return {}; }
inline Status fail(Error e) { return {boost::system::in_place_error, std::move(e)}; }

// Propagate an error from an expression returning Result<...>.
#define CATS_TRY(expr)                                               \
  do {                                                               \
    auto&& _cats_r = (expr);                                         \
    if (!_cats_r) return {boost::system::in_place_error, _cats_r.error()}; \
  } while (0)

// Assign the value of a Result, or propagate its error.
#define CATS_TRY_ASSIGN(lhs, expr)                                   \
  auto&& _cats_tmp_##lhs = (expr);                                   \
  if (!_cats_tmp_##lhs) return {boost::system::in_place_error, _cats_tmp_##lhs.error()}; \
  auto lhs = std::move(*_cats_tmp_##lhs)

}  // namespace cats
