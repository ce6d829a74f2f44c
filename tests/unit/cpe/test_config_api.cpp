#include "cpe/config_api.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

using namespace cats;
namespace json = boost::json;

TEST_CASE("tuning_only: selection and a service's selection figures, nothing structural") {
  const auto base = json::parse(R"({"selection":{"hold_down_ms":1000},
    "wan":[{"name":"wan1","interface":"wan1"}],
    "service":[{"id":"app1","vip":"10.255.0.1","ports":[80],"service_time_ms":20,
                "instance":[{"vcpe":"cloud1","address":"10.2.1.10:8080"}]}]})");
  auto with = [&](const char* ptr, json::value v) {
    auto d = base;
    boost::system::error_code ec;
    *d.find_pointer(ptr, ec) = std::move(v);
    return d;
  };
  CHECK_FALSE(cpe::tuning_only(base, base));  // nothing changed: nothing to apply
  CHECK(cpe::tuning_only(base, with("/selection/hold_down_ms", 1500)));
  CHECK(cpe::tuning_only(base, with("/service/0/service_time_ms", 25)));
  auto sla = base;
  sla.at("service").at(0).as_object()["sla"] = json::object{{"max_rtt_ms", 15}};
  CHECK(cpe::tuning_only(base, sla));
  CHECK_FALSE(cpe::tuning_only(base, with("/service/0/vip", "10.255.0.2")));
  CHECK_FALSE(cpe::tuning_only(base, with("/service/0/ports/0", 81)));
  CHECK_FALSE(cpe::tuning_only(base, with("/service/0/instance/0/address", "10.2.1.11:8080")));
  CHECK_FALSE(cpe::tuning_only(base, with("/wan/0/interface", "wan9")));
  // A tuning change together with a structural one is not tuning.
  auto both = with("/selection/hold_down_ms", 1500);
  both.at("service").at(0).as_object()["vip"] = "10.255.0.9";
  CHECK_FALSE(cpe::tuning_only(base, both));
}
