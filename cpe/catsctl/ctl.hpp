// catsctl as a library, so tests can drive it without a process and check its rendering.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <iosfwd>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace cats::ctl {

enum ExitCode { kOk = 0, kApiError = 1, kUsage = 2, kNoConnection = 3 };

// cats-cpe's own default (`control_socket` = <default state_dir>/control.sock, docs/CONFIG.md),
// so that a CPE configured with only the required keys answers a bare `catsctl status`.
inline constexpr const char* kDefaultSocket = "/var/lib/cats-cpe/control.sock";

// One column of a table: a header and how to turn a row object into the cell text.
struct Column {
  std::string header;
  std::function<std::string(const boost::json::object& row)> cell;
  bool right_align = false;  // numbers and byte counts read better right-aligned
};

// Column showing row[key] through fmt (default: strings bare, numbers as is, missing/null "-").
Column col(std::string header, std::string key,
           std::function<std::string(const boost::json::value&)> fmt = {}, bool right_align = false);

// Renders an array of objects (non-objects are skipped) as a space-aligned table: a header
// line, then one line per row; no trailing spaces.
std::string render_table(const boost::json::array& rows, const std::vector<Column>& columns);

// Cell formatters.
std::string fmt_text(const boost::json::value& v);
std::string fmt_bytes(const boost::json::value& v);                // 1536 -> "1.5 KiB"
std::string fmt_ago(const boost::json::value& unix_seconds, double now);  // "12s ago" / "never"

std::string fmt_ms(const boost::json::value& v);         // 12.345 -> "12.3 ms"
std::string fmt_pct(const boost::json::value& v);        // 2.5 -> "2.5%"
std::string fmt_ratio_pct(const boost::json::value& v);  // 0.5 -> "50%"
std::string fmt_count(const boost::json::value& v);      // 6 -> "6", 1.5 -> "1.5"

// Plain renderings of GET /api/v1/{paths,instances,reports,events}.
std::string render_paths(const boost::json::value& body, double now);
std::string render_instances(const boost::json::value& body, double now);
std::string render_reports(const boost::json::value& body, double now);
std::string render_plans(const boost::json::value& body, double now);
std::string render_events(const boost::json::value& body, double now);
std::string render_services(const boost::json::value& body, double now);
std::string render_decisions(const boost::json::value& body, double now);

// Plain rendering of GET /api/v1/status at time now (unix seconds).
std::string render_status(const boost::json::value& status, double now);
// GET /api/v1/setup-url: the link to open, or why there is none.
std::string render_setup_url(const boost::json::value& body, double now);

// A command: what to request and how to render the reply in plain form. Adding a listing
// command is one entry in the table in ctl.cpp.
struct Command {
  std::string name;
  std::string method;
  std::string target;
  std::string help;
  std::function<std::string(const boost::json::value& body, double now)> render;
};
const std::vector<Command>& commands();

// catsctl's global options and its command, as parse_args leaves them.
struct Options {
  std::string socket;      // the control socket (default $CATS_SOCKET, else kDefaultSocket)
  std::string url;         // https://host:port: the HTTPS API instead of the socket
  std::string pin;         // the server certificate's SHA-256 ("AB:CD:..."), with --url
  std::string token_file;  // the API token, with --url (else $CATS_TOKEN)
  bool json = false;
  std::string command;
  std::vector<std::string> rest;  // the command's own arguments
};

// Parses args (argv without argv[0]) into opt, which holds the environment's defaults on
// entry. Returns the exit code when parsing ends the run: kOk after printing the usage to
// `out` (-h, --help, help), kUsage after printing the mistake (unknown option, an option
// without its value, no command, an empty socket path) and, for some, the usage to `err`.
// Global options may stand before or after the command; anything else after the command
// is the command's own (rest).
std::optional<int> parse_args(const std::vector<std::string>& args, Options& opt, std::ostream& out,
                              std::ostream& err);
// The usage text (options and every command).
void usage(std::ostream& os);

// Full catsctl: args excludes argv[0]; env_socket is $CATS_SOCKET (may be null).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const char* env_socket);
// Same, with the stream passwords are read from (`--password-file -`).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const char* env_socket,
        std::istream& in);

}  // namespace cats::ctl
