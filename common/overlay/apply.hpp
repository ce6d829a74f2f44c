// Converges the kernel to a Plan: diff against what exists, add before delete, touch only
// our slice (slice.hpp), and report what was changed. Applying the same Plan twice changes
// nothing the second time (the report is empty), which is also how a restarted daemon adopts
// the state its predecessor left: no tunnel, rule or route is recreated.
#pragma once

#include "nft/nft.hpp"
#include "overlay/plan.hpp"
#include "rtnl/rtnl.hpp"
#include "wg/wg.hpp"

#include <string>
#include <vector>

namespace cats::overlay {

struct ApplyReport {
  std::vector<std::string> actions;  // one line per kernel change made
  bool changed() const { return !actions.empty(); }
};

// Kernel parameters under /proc/sys, as an interface so the Applier's unit tests run
// without root (tests/unit/overlay/fake_kernel.hpp).
class Sysctls {
 public:
  virtual ~Sysctls() = default;
  // key: path relative to /proc/sys ("net/ipv4/ip_forward").
  virtual Result<std::string> read(const std::string& key) = 0;
  virtual Status write(const std::string& key, const std::string& value) = 0;
};

// The real ones: /proc/sys/<key>.
Sysctls& proc_sysctls();

class Applier {
 public:
  Applier(rtnl::Routing& rt, wg::Control& wg, nft::Tables& nft, wg::Key private_key,
          Sysctls& sysctls = proc_sysctls())
      : rt_(rt), wg_(wg), nft_(nft), private_key_(private_key), sysctls_(sysctls) {}

  // `stale_tunnels`: tunnel names we created earlier that the plan no longer has.
  Result<ApplyReport> apply(const Plan& p, const std::vector<std::string>& stale_tunnels = {});
  // Remove everything of ours: the plan's tunnels plus `extra_tunnels`, every rule and route
  // in our slice, our nft table. Keeps going past errors and returns the first one.
  // The WAN input filter (table inet cats_input) stays: see remove_input_filter.
  Status teardown(const Plan& p, const std::vector<std::string>& extra_tunnels = {});
  // Delete table inet cats_input if it exists: an explicit teardown only (--cleanup), never
  // a stop or an in-place restart (Plan::input_nft_script).
  Status remove_input_filter();

 private:
  Status apply_sysctls(const Plan& p, ApplyReport& rep);
  Status apply_tunnel(const TunnelSpec& t, ApplyReport& rep);
  // existing_devices_only: add what can be added now (underlay), delete nothing.
  Status apply_routes(const Plan& p, ApplyReport& rep, bool existing_devices_only);
  Status apply_rules(const Plan& p, ApplyReport& rep);
  Status apply_nft(const Plan& p, ApplyReport& rep);
  Status apply_input_nft(const Plan& p, ApplyReport& rep);
  // Converge table inet <name> to `body` ("" = no table), fingerprinted (nft/table.hpp).
  Status converge_table(const char* name, const std::string& body, ApplyReport& rep);

  rtnl::Routing& rt_;
  wg::Control& wg_;
  nft::Tables& nft_;
  wg::Key private_key_;
  Sysctls& sysctls_;
};

// Fails, having changed nothing, when a link the plan depends on is missing.
Status check_required(rtnl::Routing& rt, const Plan& p);

// The update that takes `current` to `desired` (empty peers/fields when nothing differs).
// Pure, so the diff itself is unit tested.
wg::DeviceUpdate diff_device(const wg::Device& current, const TunnelSpec& desired, const wg::Key& private_key);
bool update_is_empty(const wg::DeviceUpdate& u);

// Whether a rule/route is in our slice (priority or table range, and our protocol).
bool is_our_rule(const rtnl::Rule& r);
bool is_our_route(const rtnl::Route& r);

}  // namespace cats::overlay
