// The web UI (webui/) on the CPE's management plane: its built files from
// [management] webui_dir, as GET routes the guard lets through without a login.
#pragma once

#include "api/api.hpp"
#include "config/config.hpp"

#include <string>
#include <vector>

namespace cats::cpe {

// The UI's client-side pages: each answers with index.html (the app routes on
// location.pathname). Keep in step with webui/src/app.tsx's pages.
inline const std::vector<std::string> kWebuiPages = {"/", "/setup", "/login", "/overview", "/paths", "/instances",
                                                   "/services", "/events", "/config", "/users"};

// Loads webui_dir and adds its routes. Returns the added paths (for the guard's public
// list); none when the directory is absent (no UI installed: logged, the API runs on) or
// unusable (logged as an error: a broken UI must not keep the data plane down).
std::vector<std::string> add_webui_routes(api::Router& router, const config::Management& m);

}  // namespace cats::cpe
