#include "api/api.hpp"
#include "base/log.hpp"

#include <boost/json/object.hpp>

#include <exception>

namespace cats::api {

Response Response::error(int status, const std::string& message) {
  return Response{status, boost::json::object{{"error", message}}};
}

void Router::add(std::string method, std::string path, Handler h) {
  routes_[{std::move(method), std::move(path)}] = std::move(h);
}

std::string Router::allow(const std::string& path) const {
  std::string out;
  // Keys are sorted by method first, so scan all; route tables are small.
  for (const auto& [key, handler] : routes_) {
    if (key.second != path) continue;
    if (!out.empty()) out += ", ";
    out += key.first;
  }
  return out;
}

Response Router::dispatch(const Request& r) const {
  auto it = routes_.find({r.method, r.path});
  if (it == routes_.end()) {
    if (!allow(r.path).empty()) return Response::error(405, "method " + r.method + " not allowed on " + r.path);
    return Response::error(404, "no such endpoint: " + r.path);
  }
  // A buggy handler must cost one request, not the daemon.
  try {
    return it->second(r);
  } catch (const std::exception& e) {
    log::error("api", r.method + " " + r.path + ": handler failed: " + e.what());
    return Response::error(500, std::string("internal error: ") + e.what());
  } catch (...) {
    log::error("api", r.method + " " + r.path + ": handler failed");
    return Response::error(500, "internal error");
  }
}

}  // namespace cats::api
