// Kernel backend: the "wireguard" generic netlink family (linux/wireguard.h), the same
// protocol wg(8) speaks. Message bytes come from genl.cpp; this file only does I/O.
#include "base/log.hpp"
#include "netlink/socket.hpp"
#include "wg/backends.hpp"
#include "wg/genl.hpp"
#include "wg/netlink.hpp"

#include <linux/genetlink.h>

#include <optional>

namespace cats::wg {
namespace {

Result<uint16_t> resolve_family() {
  CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_GENERIC, "wg"));
  std::optional<uint16_t> id;
  auto on_msg = [&](const nlmsghdr* nlh) -> Status {
    if (auto r = genl::parse_family_reply(nlh)) id = *r;
    return ok();
  };
  CATS_TRY(sock.exchange(genl::build_get_family(sock.next_seq()), on_msg,
                         "resolve generic netlink family wireguard"));
  if (!id) return Error::sys(ENOENT, "generic netlink family wireguard: no id in reply");
  return *id;
}

class GenlControl final : public Control {
 public:
  explicit GenlControl(uint16_t family) : family_(family) {}

  BackendKind kind() const override { return BackendKind::kernel; }

  Result<std::vector<std::string>> list() override { return nl::links_of_kind("wireguard"); }

  Result<Device> get(const std::string& name) override {
    if (!nl::valid_ifname(name)) return Error::sys(EINVAL, "invalid interface name");
    CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_GENERIC, "wg"));
    genl::DumpParser parser;
    CATS_TRY(sock.exchange(genl::build_get_device(family_, sock.next_seq(), name),
                           [&](const nlmsghdr* nlh) { return parser.parse_message(nlh); }, "get device " + name));
    Device dev = parser.take();
    if (dev.name.empty()) dev.name = name;
    return dev;
  }

  Status set(const DeviceUpdate& u) override {
    CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_GENERIC, "wg"));
    // Message i carries seq + i; claim the numbers the split used beyond the first.
    uint32_t seq = sock.next_seq();
    auto msgs = genl::build_set_device(u, family_, seq);
    if (!msgs) return msgs.error().context(u.name);
    sock.take_seqs(static_cast<uint32_t>(msgs->size() - 1));
    // Each part is acknowledged before the next goes out, as wg(8) does, so a failure
    // stops the sequence at a known point.
    for (size_t i = 0; i < msgs->size(); ++i) {
      CATS_TRY(sock.request((*msgs)[i], "set device " + u.name));
    }
    return ok();
  }

  Status create(const std::string& name) override {
    auto st = nl::link_add(name, "wireguard");
    if (!st && st.error().sys_errno != EEXIST) return st;
    return ok();
  }

  Status remove(const std::string& name) override { return nl::link_del(name); }

 private:
  uint16_t family_;
};

}  // namespace

Result<std::unique_ptr<Control>> make_genl_control() {
  CATS_TRY_ASSIGN(family, resolve_family());
  return std::unique_ptr<Control>(std::make_unique<GenlControl>(family));
}

}  // namespace cats::wg
