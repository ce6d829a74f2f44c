// What the CPE's services publish on GET /api/v1/stream (api/sse.hpp): paths, instances
// and per-service decisions, shaped as the API's replies (cpe/views.hpp). Part of
// CpeServices::Impl (cnma_impl.hpp).
#include "cpe/cnma_impl.hpp"

#include <boost/json/serialize.hpp>

namespace cats::cpe {

namespace json = boost::json;

// The stream's path and instance messages: one per path / instance, shaped as the
// items of GET /api/v1/paths and /instances. The hub coalesces and rate-limits.
void CpeServices::Impl::publish_paths() {
  json::array a;
  {
    std::lock_guard lk(sh->mu);
    a = paths_json(sh->paths);
  }
  for (const auto& v : a) {
    const auto& o = v.as_object();
    sh->hub->publish("paths", std::string(o.at("wan").as_string()) + "/" + std::string(o.at("vcpe").as_string()),
                     json::serialize(v));
  }
}

void CpeServices::Impl::publish_instances() {
  json::array a;
  {
    std::lock_guard lk(sh->mu);
    a = instances_json(sh->damped_entries(), sh->mono());
  }
  for (const auto& v : a) {
    const auto& o = v.as_object();
    sh->hub->publish("instances",
                     std::string(o.at("vcpe").as_string()) + "/" + std::string(o.at("service").as_string()) + "/" +
                         std::string(o.at("instance").as_string()),
                     json::serialize(v));
  }
}

// A service's candidates go to the stream as one message (Steering::decisions_by_service)
// when its weights or health changed; costs and reasons move every tick and would only
// be noise. One message per service, coalesced per service by the hub: a client never
// sees half of one publication and half of the next (docs/API.md "stream").
void CpeServices::Impl::publish_decisions() {
  auto a = steering->decisions_by_service();
  std::map<std::string, std::string> sig;
  for (const auto& v : a) {
    const auto& m = v.as_object();
    const std::string svc(m.at("service").as_string());
    auto& s = sig[svc];
    for (const auto& c : m.at("candidates").as_array()) {
      const auto& o = c.as_object();
      s += json::serialize(o.at("instance")) + json::serialize(o.at("wan")) + json::serialize(o.at("weight")) +
           json::serialize(o.at("health")) + ";";
    }
    auto it = streamed_decisions.find(svc);
    if (it != streamed_decisions.end() && it->second == s) continue;
    sh->hub->publish("decisions", svc, json::serialize(v));
  }
  streamed_decisions = std::move(sig);
}

}  // namespace cats::cpe
