// "Add a vCPE" (issue 9, docs/API.md "Adding a vCPE"): from a name, the vCPE's public
// endpoint, inner address and subnets, the bundle that vCPE needs (the CPE's keys, a
// ready vcpe.toml, a #cloud-config user-data file) and the [[vcpe]] entry the CPE's
// document gets. Keys are pasted back: the vCPE prints its own (`cats-vcpe pubkey`,
// `--report`) from its state directory once its file is written, and a second request
// with them adds the entry as a revision. No enrolment secret travels, and nothing is
// trusted before an admin has seen both keys.
#pragma once

#include "config/config.hpp"
#include "configdb/document.hpp"

#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <string>

namespace cats::cpe {

struct CpeIdentity {
  std::string wireguard_public_key;  // base64, this CPE's WireGuard key
  std::string report_public_key;     // base64, the Ed25519 key it signs vCPE instructions with
};

struct Enrolment {
  boost::json::value entry;  // the [[vcpe]] object for /vcpe/- (keys: the request's, or none)
  std::string vcpe_toml;     // the vCPE's whole file
  std::string cloud_init;    // #cloud-config writing it and enabling cats-vcpe
  bool has_keys = false;     // the request carried the vCPE's public_key and report_key
};

// `request`: {name, endpoint, address, subnets, ports?: {wan: port}, keepalive?,
// lan_interface?, uplink_interface?, public_key?, report_key?}. Checks its shape and
// that the vCPE file parses (config::parse_vcpe); field errors name the request's JSON
// pointers. The CPE-side rules (unique name, ports) are the validator's, at commit.
Expected<Enrolment, configdb::FieldErrors> enrol(const config::CpeConfig& cpe, const CpeIdentity& id,
                                                              const boost::json::value& request);

}  // namespace cats::cpe
