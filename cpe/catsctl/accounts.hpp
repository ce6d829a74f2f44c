// catsctl's commands that take arguments and change things: users and API tokens
// (docs/API.md "Accounts routes"). Each becomes one request and a rendering of its answer.
#pragma once

#include "base/result.hpp"

#include <boost/json/value.hpp>

#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace cats::ctl {

struct Call {
  std::string method;
  std::string target;
  std::string body;  // JSON, or empty
  std::function<std::string(const boost::json::value&)> render;
};

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
