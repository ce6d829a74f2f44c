// Parts of the configuration document addressed by a JSON pointer (RFC 6901) whose array
// steps may also be an element's "id" or "name": /service/app1/sla, /wan/wan1,
// /vcpe/cloud1/ports. What GET/PUT/DELETE /api/v1/config?path= read and change.
#pragma once

#include "configdb/diff.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace cats::cpe {

// The plain pointer (indexes for array steps) of an existing value, or nullopt.
std::optional<std::string> resolve_part(const boost::json::value& doc, std::string_view path);

// The JSON Patch that puts `value` at `path`: replace when it exists; add when only its
// last step is new (an object key, or "-" to append to an array). Field errors otherwise.
Expected<configdb::Patch, configdb::FieldErrors> put_part(const boost::json::value& doc,
                                                                      std::string_view path,
                                                                      const boost::json::value& value);
// The JSON Patch that removes the value at `path` (which must exist).
Expected<configdb::Patch, configdb::FieldErrors> delete_part(const boost::json::value& doc,
                                                                         std::string_view path);

}  // namespace cats::cpe
