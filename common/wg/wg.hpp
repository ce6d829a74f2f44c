// WireGuard control: one narrow interface over plain data, two backends chosen at run time
// (kernel generic netlink over netlink::Socket, or userspace wireguard-go over its UAPI socket), the
// same split wireguard-tools makes in ipc.c.
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "wg/keys.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cats::wg {

struct Peer {
  Key public_key{};
  std::optional<Key> preshared_key;
  std::optional<UdpEndpoint> endpoint;
  uint16_t persistent_keepalive = 0;  // seconds, 0 = off
  std::vector<Prefix> allowed_ips;
  // Read-only statistics (filled by get()).
  int64_t last_handshake_unix_ns = 0;  // 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};

struct Device {
  std::string name;
  int ifindex = 0;
  std::optional<Key> private_key;  // never logged
  std::optional<Key> public_key;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<Peer> peers;
};

// Partial update, the shape of `wg set`: only fields that are set change.
struct PeerUpdate {
  Key public_key{};
  bool remove = false;
  bool update_only = false;  // do not create the peer if absent
  std::optional<Key> preshared_key;
  std::optional<UdpEndpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive;
  bool replace_allowed_ips = false;
  std::vector<Prefix> allowed_ips;
};

struct DeviceUpdate {
  std::string name;
  std::optional<Key> private_key;
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;
  bool replace_peers = false;
  std::vector<PeerUpdate> peers;
};

enum class BackendKind { kernel, userspace };

class Control {
 public:
  virtual ~Control() = default;
  virtual BackendKind kind() const = 0;
  // Names of WireGuard devices this backend can see (in the current network namespace).
  virtual Result<std::vector<std::string>> list() = 0;
  virtual Result<Device> get(const std::string& name) = 0;
  virtual Status set(const DeviceUpdate& update) = 0;
  // Create the link (kernel: rtnetlink newlink type wireguard; userspace: start
  // wireguard-go and wait for its UAPI socket). Existing device = success (adopt).
  virtual Status create(const std::string& name) = 0;
  // Remove the link; absent = success.
  virtual Status remove(const std::string& name) = 0;
};

struct Options {
  enum class Mode { automatic, kernel, userspace } mode = Mode::automatic;
  std::string wireguard_go = "wireguard-go";      // path or name on PATH
  std::string uapi_dir = "/var/run/wireguard";    // where wireguard-go puts <if>.sock
};

// automatic: probe whether the kernel can create a wireguard link (EOPNOTSUPP -> userspace).
Result<std::unique_ptr<Control>> make_control(const Options& opts);

}  // namespace cats::wg
