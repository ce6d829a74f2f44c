// Daemon configuration (TOML). Loading validates everything that can be checked without
// touching the system: unknown keys, types, ranges, addresses, keys, names, duplicates.
// Errors name the file, line:column, the field path and the reason.
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "wg/keys.hpp"
#include "wg/wg.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::config {

struct Daemon {
  std::string name;
  std::string state_dir;
  std::string control_socket;
  wg::Options::Mode wireguard = wg::Options::Mode::automatic;
  std::string wireguard_go = "wireguard-go";
  std::string log_level = "info";
};

struct Lan {
  std::string interface;
  std::optional<IpAddress> address;  // CPE: required (probe source, report target)
  std::vector<Prefix> subnets;
};

struct Wan {
  std::string name;
  std::string interface;
  IpAddress gateway;
  uint32_t weight = 1;
  uint32_t cost = 0;
  std::string tunnel_interface;
  uint16_t listen_port = 0;
};

struct VcpePeer {
  std::string name;
  wg::Key public_key{};
  IpAddress endpoint;  // public (underlay) address
  IpAddress address;   // inner address of the vCPE
  std::vector<Prefix> subnets;
  uint16_t keepalive = 0;
  std::map<std::string, uint16_t> ports;  // our WAN name -> vCPE listen port
};

struct CpeConfig {
  std::string file;
  Daemon daemon;
  Lan lan;
  std::vector<Wan> wans;
  std::vector<VcpePeer> vcpes;
};

struct CpePath {
  std::string wan;
  uint16_t listen_port = 0;
  std::string tunnel_interface;
  std::optional<UdpEndpoint> endpoint;
};

struct CpePeer {
  std::string name;
  wg::Key public_key{};
  IpAddress address;
  std::vector<Prefix> subnets;
  uint16_t keepalive = 0;
  std::vector<CpePath> paths;
};

struct VcpeConfig {
  std::string file;
  Daemon daemon;
  Lan lan;
  std::string uplink_interface;
  std::vector<CpePeer> cpes;
};

Result<CpeConfig> load_cpe(const std::string& path);
Result<VcpeConfig> load_vcpe(const std::string& path);
// Same, from text (for tests and fuzzing); `name` is used in messages.
Result<CpeConfig> parse_cpe(std::string_view text, const std::string& name);
Result<VcpeConfig> parse_vcpe(std::string_view text, const std::string& name);

// Linux interface names: 1..15 bytes, no '/', ':', whitespace; not "." or "..".
bool valid_ifname(std::string_view s);

}  // namespace cats::config
