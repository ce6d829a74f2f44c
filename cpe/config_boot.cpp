#include "cpe/config_boot.hpp"
#include "base/clock.hpp"

#include "base/log.hpp"
#include "configdb/configdb.hpp"
#include "cpe/config_api.hpp"

#include <chrono>
#include <filesystem>

namespace cats::cpe {

namespace {

Error db_error(const configdb::ConfigError& e) {
  std::string m = e.message;
  for (const auto& f : e.fields) m += "\n  " + f.field + ": " + f.message;
  return Error::msg(m);
}

}  // namespace

Result<config::CpeConfig> load_owned_config(const daemon::Args& args) {
  CATS_TRY_ASSIGN(text, config::read_config_file(args.config));
  CATS_TRY_ASSIGN(file_cfg, config::parse_cpe(text, args.config));
  file_cfg.source_sha256 = configdb::sha256_hex(text);
  std::error_code ec;
  // No database yet: the file runs, and is imported once the daemon is up (bootstrap()),
  // so a file that cannot start (a missing interface) leaves nothing behind.
  if (!std::filesystem::exists(file_cfg.store_path, ec)) return file_cfg;
  auto db = configdb::ConfigDb::open(file_cfg.store_path, unix_ms_now);
  if (!db) return db.error().context("configuration database " + file_cfg.store_path);
  auto cur = db->current();
  if (!cur) return db_error(cur.error());
  if (cur->rev == 0) return file_cfg;
  auto changed = db->toml_changed(text);
  if (!changed) return db_error(changed.error());
  if (args.mode == daemon::Args::Mode::check) {
    // --check validates the file and shows its plan; say when it is not what runs.
    if (*changed)
      log::warn("config", args.config + " differs from the one imported; the database's revision " +
                              std::to_string(cur->rev) + " runs unless cats-cpe starts with --reimport");
    return file_cfg;
  }
  if (args.mode == daemon::Args::Mode::run && *changed) {
    if (args.reimport) {
      auto rev = db->reimport(text, args.config, {"root", "", "--reimport of " + args.config});
      if (!rev) return db_error(rev.error());
      log::info("config", args.config + " re-imported as revision " + std::to_string(*rev));
      cur = db->current();
      if (!cur) return db_error(cur.error());
    } else {
      log::warn("config", args.config + " edited after import; ignored (use --reimport, or the API)");
    }
  }
  auto cfg = config_from_document(cur->doc, "revision " + std::to_string(cur->rev));
  if (!cfg) return cfg.error().context("the stored configuration");
  if (args.mode == daemon::Args::Mode::run)
    log::info("config", "running revision " + std::to_string(cur->rev) + " from " + file_cfg.store_path);
  cfg->file = args.config;
  cfg->revision = cur->rev;
  return cfg;
}

Result<int64_t> bootstrap(configdb::ConfigDb& db, const config::CpeConfig& running) {
  auto cur = db.current();
  if (!cur) return db_error(cur.error());
  if (cur->rev > 0) return cur->rev;
  CATS_TRY_ASSIGN(text, config::read_config_file(running.file));
  // What runs is what gets stored: a file edited while the daemon started is not imported.
  if (configdb::sha256_hex(text) != running.source_sha256)
    return Error::msg(running.file + " changed while cats-cpe started; restart it to import it");
  auto boot = db.bootstrap_from_toml(text, running.file);
  if (!boot) return db_error(boot.error());
  cur = db.current();
  if (!cur) return db_error(cur.error());
  log::info("config", running.file + " imported as revision " + std::to_string(cur->rev) +
                          "; from now on the database owns the configuration");
  return cur->rev;
}

}  // namespace cats::cpe
