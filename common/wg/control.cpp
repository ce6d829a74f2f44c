// Backend selection. Like wg-quick, we prefer the kernel implementation and fall back to
// wireguard-go only when the kernel cannot create a wireguard link.
#include "base/log.hpp"
#include "wg/backends.hpp"
#include "wg/netlink.hpp"

#include <unistd.h>

namespace cats::wg {
namespace {

// The only reliable test is to try: the module may be built in, loadable on demand
// (RTM_NEWLINK autoloads "rtnl-link-wireguard") or absent. Absent shows as EOPNOTSUPP
// ("Unknown device type"). The probe name is unique per process and short enough for
// IFNAMSIZ.
Result<bool> kernel_supports_wireguard() {
  std::string probe = "catsprobe" + std::to_string(::getpid() % 1000000);
  auto st = nl::link_add(probe, "wireguard");
  if (st) {
    if (auto del = nl::link_del(probe); !del) log::warn("wg", "probe link " + probe + " not removed: " + del.error().message);
    return true;
  }
  if (st.error().sys_errno == EOPNOTSUPP) return false;
  if (st.error().sys_errno == EEXIST) {
    // Left behind by an earlier process with our pid; it exists, so the kind works.
    (void)nl::link_del(probe);
    return true;
  }
  return st.error().context("probe for kernel WireGuard");
}

}  // namespace

Result<std::unique_ptr<Control>> make_control(const Options& opts) {
  bool kernel = false;
  switch (opts.mode) {
    case Options::Mode::kernel: kernel = true; break;
    case Options::Mode::userspace: kernel = false; break;
    case Options::Mode::automatic: {
      CATS_TRY_ASSIGN(supported, kernel_supports_wireguard());
      kernel = supported;
      break;
    }
  }
  if (kernel) {
    auto c = make_genl_control();
    if (!c) return c.error();
    log::info("wg", "WireGuard backend: kernel (generic netlink)");
    return c;
  }
  log::info("wg", "WireGuard backend: userspace (" + opts.wireguard_go + ", UAPI in " + opts.uapi_dir + ")");
  return make_uapi_control(opts);
}

}  // namespace cats::wg
