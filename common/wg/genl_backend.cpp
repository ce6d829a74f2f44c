// Kernel backend: the "wireguard" generic netlink family (linux/wireguard.h), the same
// protocol wg(8) speaks. Message bytes come from genl.cpp; this file only does I/O.
#include "base/log.hpp"
#include "wg/backends.hpp"
#include "wg/genl.hpp"
#include "wg/netlink.hpp"

#include <linux/genetlink.h>

#include <optional>

namespace cats::wg {
namespace {

struct FamilyLookup {
  std::optional<uint16_t> id;
};

int family_msg_cb(const nlmsghdr* nlh, void* data) {
  auto r = genl::parse_family_reply(nlh);
  if (r) static_cast<FamilyLookup*>(data)->id = *r;
  return MNL_CB_OK;
}

Result<uint16_t> resolve_family() {
  CATS_TRY_ASSIGN(sock, nl::Socket::open(NETLINK_GENERIC));
  uint32_t seq = sock.next_seq();
  FamilyLookup f;
  CATS_TRY(sock.send(genl::build_get_family(seq)));
  auto st = sock.receive(seq, family_msg_cb, &f);
  if (!st) return st.error().context("resolve generic netlink family wireguard");
  if (!f.id) return Error::sys(ENOENT, "generic netlink family wireguard: no id in reply");
  return *f.id;
}

class GenlControl final : public Control {
 public:
  explicit GenlControl(uint16_t family) : family_(family) {}

  BackendKind kind() const override { return BackendKind::kernel; }

  Result<std::vector<std::string>> list() override { return nl::links_of_kind("wireguard"); }

  Result<Device> get(const std::string& name) override {
    if (!nl::valid_ifname(name)) return Error::sys(EINVAL, "invalid interface name");
    CATS_TRY_ASSIGN(sock, nl::Socket::open(NETLINK_GENERIC));
    uint32_t seq = sock.next_seq();
    CATS_TRY(sock.send(genl::build_get_device(family_, seq, name)));
    genl::DumpParser parser;
    auto st = sock.receive_datagrams(
        [&](std::span<const uint8_t> dg) { return parser.feed(dg, seq, sock.portid()); });
    if (!st) return st.error().context(name);
    Device dev = parser.take();
    if (dev.name.empty()) dev.name = name;
    return dev;
  }

  Status set(const DeviceUpdate& u) override {
    CATS_TRY_ASSIGN(sock, nl::Socket::open(NETLINK_GENERIC));
    // Message i carries seq + i; claim the numbers the split used beyond the first.
    uint32_t seq = sock.next_seq();
    auto msgs = genl::build_set_device(u, family_, seq);
    if (!msgs) return msgs.error().context(u.name);
    sock.take_seqs(static_cast<uint32_t>(msgs->size() - 1));
    // Each part is acknowledged before the next goes out, as wg(8) does, so a failure
    // stops the sequence at a known point.
    for (size_t i = 0; i < msgs->size(); ++i) {
      auto st = sock.request((*msgs)[i], seq + static_cast<uint32_t>(i));
      if (!st) return st.error().context(u.name + ": set device");
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
