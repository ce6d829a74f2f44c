#include "cpe/services.hpp"

namespace cats::cpe {

daemon::ServicesFactory services_factory(const config::CpeConfig&) { return {}; }

}  // namespace cats::cpe
