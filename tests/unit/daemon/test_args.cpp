// The daemons' command line (daemon::parse_args, usage, site_main's exit codes): every
// documented form, and what a mistake prints. Both cats-cpe and cats-vcpe parse with it.
#include "base/process.hpp"
#include "daemon/daemon.hpp"

#include <catch2/catch.hpp>

using namespace cats;
using daemon::Args;

namespace {

Result<Args> parse(std::vector<std::string> rest) {
  rest.insert(rest.begin(), "cats-cpe");
  return daemon::parse_args(rest);
}

std::string error_of(std::vector<std::string> rest) {
  auto a = parse(std::move(rest));
  REQUIRE_FALSE(a.has_value());
  return a.error().message;
}

}  // namespace

TEST_CASE("daemon args: each documented form") {
  auto run = parse({"--config", "/etc/cats/cpe.toml"});
  REQUIRE(run.has_value());
  CHECK(run->config == "/etc/cats/cpe.toml");
  CHECK(run->mode == Args::Mode::run);
  CHECK_FALSE(run->reimport);
  CHECK_FALSE(run->report_key);

  auto eq = parse({"--config=/etc/cats/cpe.toml"});
  REQUIRE(eq.has_value());
  CHECK(eq->config == "/etc/cats/cpe.toml");

  auto check = parse({"--check", "--config", "c.toml"});
  REQUIRE(check.has_value());
  CHECK(check->mode == Args::Mode::check);
  CHECK(check->config == "c.toml");

  auto cleanup = parse({"--config", "c.toml", "--cleanup"});
  REQUIRE(cleanup.has_value());
  CHECK(cleanup->mode == Args::Mode::cleanup);

  auto reimport = parse({"--config", "c.toml", "--reimport"});
  REQUIRE(reimport.has_value());
  CHECK(reimport->mode == Args::Mode::run);
  CHECK(reimport->reimport);

  auto pubkey = parse({"pubkey", "--config", "c.toml"});
  REQUIRE(pubkey.has_value());
  CHECK(pubkey->mode == Args::Mode::pubkey);
  CHECK_FALSE(pubkey->report_key);

  auto report = parse({"pubkey", "--report", "--config", "c.toml"});
  REQUIRE(report.has_value());
  CHECK(report->mode == Args::Mode::pubkey);
  CHECK(report->report_key);

  // The last of two modes wins, as the loop reads them.
  auto last = parse({"--check", "--cleanup", "--config", "c.toml"});
  REQUIRE(last.has_value());
  CHECK(last->mode == Args::Mode::cleanup);
}

TEST_CASE("daemon args: --help asks for the usage, with or without --config") {
  for (const auto& v : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"--config", "c.toml", "--help"}}) {
    auto a = parse(v);
    REQUIRE(a.has_value());
    CHECK(a->mode == Args::Mode::help);
  }
  CHECK(daemon::usage("cats-vcpe") ==
        "usage: cats-vcpe --config FILE [--check|--cleanup|--reimport]\n"
        "       cats-vcpe pubkey [--report] --config FILE\n");
}

TEST_CASE("daemon args: mistakes are errors that name the argument") {
  CHECK(error_of({}) == "--config FILE is required");
  CHECK(error_of({"--check"}) == "--config FILE is required");
  CHECK(error_of({"--config="}) == "--config FILE is required");
  CHECK(error_of({"--config"}) == "--config needs a value (FILE)");
  CHECK(error_of({"--check", "--config"}) == "--config needs a value (FILE)");
  CHECK(error_of({"--bogus", "--config", "c.toml"}) == "unknown argument '--bogus'");
  CHECK(error_of({"--config", "c.toml", "extra"}) == "unknown argument 'extra'");
  // pubkey is a command: first, or not at all; --report belongs to it.
  CHECK(error_of({"--config", "c.toml", "pubkey"}) == "unknown argument 'pubkey'");
  CHECK(error_of({"--report", "--config", "c.toml"}) == "unknown argument '--report'");
  // A single dash is not an abbreviation.
  CHECK(error_of({"-config", "c.toml"}) == "unknown argument '-config'");
}

// site_main, through the real binaries: an argument error exits 2 before any file, key or
// kernel state is touched, printing the error and the usage; --help prints the usage and
// exits 0.
TEST_CASE("cats-cpe and cats-vcpe: exit codes and messages of the command line") {
  for (const std::string bin : {CATS_CPE_BIN, CATS_VCPE_BIN}) {
    const std::string prog = bin.substr(bin.rfind('/') + 1);
    INFO(prog);
    auto bad = run_command({bin, "--bogus"});
    REQUIRE(bad.has_value());
    CHECK(bad->exit_status == 2);
    CHECK(bad->output == prog + ": unknown argument '--bogus'\n" + daemon::usage(prog));

    auto missing = run_command({bin, "--config"});
    REQUIRE(missing.has_value());
    CHECK(missing->exit_status == 2);
    CHECK(missing->output == prog + ": --config needs a value (FILE)\n" + daemon::usage(prog));

    auto none = run_command({bin});
    REQUIRE(none.has_value());
    CHECK(none->exit_status == 2);
    CHECK(none->output.rfind(prog + ": --config FILE is required\n", 0) == 0);

    auto help = run_command({bin, "--help"});
    REQUIRE(help.has_value());
    CHECK(help->exit_status == 0);
    CHECK(help->output == daemon::usage(prog));

    auto absent = run_command({bin, "--check", "--config", "/nonexistent/cats.toml"});
    REQUIRE(absent.has_value());
    CHECK(absent->exit_status == 1);
    CHECK(absent->output.rfind(prog + ": invalid configuration:\n", 0) == 0);
    CHECK(absent->output.find("/nonexistent/cats.toml") != std::string::npos);
  }
}
