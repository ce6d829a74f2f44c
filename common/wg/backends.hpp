// Internal to cats_wg: the two Control implementations behind make_control().
#pragma once

#include "wg/wg.hpp"

#include <memory>

namespace cats::wg {

std::unique_ptr<Control> make_uapi_control(const Options& opts);
// Fails when the kernel has no "wireguard" generic netlink family.
Result<std::unique_ptr<Control>> make_genl_control();

}  // namespace cats::wg
