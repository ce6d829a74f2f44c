// Raw bytes through the control API's request path, exactly as UnixServer runs it minus
// the socket: Beast parser with the server's limits -> Request -> Router -> response.
#include "api/api.hpp"
#include "api/http.hpp"
#include "base/log.hpp"

#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

namespace {

const cats::api::Router& router() {
  static const cats::api::Router r = [] {
    cats::log::set_level(cats::log::Level::error);
    cats::api::Router rt;
    rt.add("GET", "/api/v1/status", [](const cats::api::Request& q) {
      boost::json::object o;
      for (const auto& [k, v] : q.query) o[k] = v;
      return cats::api::Response::json(o);
    });
    rt.add("POST", "/api/v1/status", [](const cats::api::Request& q) {
      return cats::api::Response::json(boost::json::object{{"body", q.body}});
    });
    return rt;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cats::api;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = detail::parse_raw(bytes, ServerLimits{});
  detail::BeastResponse res = parsed.request ? detail::handle(router(), *parsed.request, {})
                              : parsed.error_status ? detail::error_reply(parsed.error_status, parsed.error)
                                                    : detail::BeastResponse{};
  // Serialise too: a response built from hostile input must still be writable.
  std::ostringstream os;
  os << res;
  return 0;
}
