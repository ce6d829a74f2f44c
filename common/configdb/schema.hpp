// JSON Schema (draft 2020-12) of the configuration document, served at
// /api/v1/config/schema. It describes shapes, types and ranges for editors and the web
// UI; the validator (document.hpp, i.e. config::check_cpe) stays the authority, and
// tests/unit/configdb checks that the two agree on keys.
#pragma once

#include <boost/json/value.hpp>

namespace cats::configdb {

const boost::json::value& schema();

}  // namespace cats::configdb
