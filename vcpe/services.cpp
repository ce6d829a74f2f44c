#include "vcpe/services.hpp"

namespace cats::vcpe {

daemon::ServicesFactory services_factory(const config::VcpeConfig&) { return {}; }

}  // namespace cats::vcpe
