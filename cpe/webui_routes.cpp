#include "cpe/webui_routes.hpp"

#include "api/static_files.hpp"
#include "base/log.hpp"

#include <filesystem>
#include <system_error>

namespace cats::cpe {

std::vector<std::string> add_webui_routes(api::Router& router, const config::Management& m) {
  std::error_code ec;
  if (!std::filesystem::exists(m.webui_dir, ec)) {
    log::info("mgmt", "web UI not installed (" + m.webui_dir + " absent): serving the API only");
    return {};
  }
  auto files = api::StaticFiles::load(m.webui_dir);
  if (!files) {
    log::error("mgmt", files.error().message + "; serving the API only");
    return {};
  }
  auto paths = (*files)->add_routes(router, kWebuiPages);
  log::info("mgmt", "web UI from " + m.webui_dir + ": " + std::to_string((*files)->files().size()) + " files, " +
                        std::to_string((*files)->total_bytes()) + " bytes with their compressed forms");
  return paths;
}

}  // namespace cats::cpe
