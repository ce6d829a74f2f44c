// catsctl's commands that take arguments and change things: users and API tokens
// (docs/API.md "Accounts routes"). Each becomes one request and a rendering of its answer.
#pragma once

#include "base/result.hpp"

#include <boost/json/value.hpp>

#include <functional>
#include <initializer_list>
#include <istream>
#include <map>
#include <string>
#include <vector>

namespace cats::ctl {

struct Call {
  Call() = default;
  Call(std::string m, std::string t, std::string b, std::function<std::string(const boost::json::value&)> r)
      : method(std::move(m)), target(std::move(t)), body(std::move(b)), render(std::move(r)) {}

  std::string method;
  std::string target;
  std::string body;  // JSON, or empty
  std::function<std::string(const boost::json::value&)> render;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type and auth
  bool raw = false;  // print the answer's body as it came (text diffs, exports)
  // A change made against the current configuration: catsctl first GETs
  // /api/v1/config, sends its ETag as If-Match, and lets this finish the call from the
  // document (a 409 then means someone else changed it in between).
  std::function<Result<void>(Call&, const boost::json::value& current)> with_current;
};

// Positional arguments and "--key value" options after a subcommand; an option not in
// `allowed` is an error, and so is one in `flags` given a value (flags take none).
struct Parsed {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opt;
};
Result<Parsed> parse_subcommand(const std::vector<std::string>& args, std::initializer_list<const char*> allowed,
                                std::initializer_list<const char*> flags = {});

// `user add NAME --role admin|viewer --password-file F|-`, `user list`, `user del NAME`,
// `user passwd NAME --password-file F|-`, `token add NAME --role R --days N` (1..366),
// `token list`, `token revoke ID`. Passwords come from a file or stdin ("-"), never from
// the command line (it shows in ps and shell history). An Error is a usage error.
Result<Call> accounts_call(const std::string& command, const std::vector<std::string>& args, std::istream& in,
                           int64_t now_ms);
bool is_accounts_command(const std::string& command);
// One line per command for the usage text.
std::string accounts_usage();

}  // namespace cats::ctl
