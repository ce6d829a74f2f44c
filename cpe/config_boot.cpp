#include "cpe/config_boot.hpp"

#include "base/log.hpp"
#include "configdb/configdb.hpp"
#include "cpe/config_api.hpp"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

namespace cats::cpe {

namespace {

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error db_error(const configdb::ConfigError& e) {
  std::string m = e.message;
  for (const auto& f : e.fields) m += "\n  " + f.field + ": " + f.message;
  return Error::msg(m);
}

}  // namespace

Result<config::CpeConfig> load_owned_config(const daemon::Args& args) {
  CATS_TRY_ASSIGN(text, config::read_config_file(args.config));
  CATS_TRY_ASSIGN(file_cfg, config::parse_cpe(text, args.config));
  const bool runs = args.mode == daemon::Args::Mode::run;
  std::error_code ec;
  if (!runs && !std::filesystem::exists(file_cfg.store_path, ec)) return file_cfg;
  if (runs) {
    // The state directory is private to the daemon (keys, database).
    std::filesystem::path dir = std::filesystem::path(file_cfg.store_path).parent_path();
    if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) return Error::msg("create " + dir.string() + ": " + ec.message());
      ::chmod(dir.c_str(), 0700);
    }
  }
  auto db = configdb::ConfigDb::open(file_cfg.store_path, unix_ms_now);
  if (!db) return db.error().context("configuration database " + file_cfg.store_path);
  auto boot = db->bootstrap_from_toml(text, args.config);
  if (!boot) return db_error(boot.error());
  if (*boot) {
    log::info("config", args.config + " imported as revision 1; from now on the database owns the configuration");
  } else if (runs) {
    auto changed = db->toml_changed(text);
    if (!changed) return db_error(changed.error());
    if (*changed && args.reimport) {
      auto rev = db->reimport(text, args.config, {"root", "", "--reimport of " + args.config});
      if (!rev) return db_error(rev.error());
      log::info("config", args.config + " re-imported as revision " + std::to_string(*rev));
    } else if (*changed) {
      log::warn("config", args.config + " edited after import; ignored (use --reimport, or the API)");
    }
  }
  auto cur = db->current();
  if (!cur) return db_error(cur.error());
  auto cfg = config_from_document(cur->doc, "revision " + std::to_string(cur->rev));
  if (!cfg) return cfg.error().context("the stored configuration");
  // The daemon's own location always comes from the file (fixed_while_running).
  if (auto fixed = fixed_while_running(file_cfg, *cfg); !fixed.empty() && runs)
    log::warn("config", "revision " + std::to_string(cur->rev) + " differs from " + args.config + " at " +
                            fixed.front().field + "; the revision runs");
  cfg->file = args.config;
  return cfg;
}

}  // namespace cats::cpe
