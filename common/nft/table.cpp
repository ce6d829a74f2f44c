#include "nft/table.hpp"

namespace cats::nft {
namespace {
constexpr std::string_view kCommentKey = "comment \"cats:";
}  // namespace

std::string fingerprint_comment(std::string_view fingerprint) {
  return "\t" + std::string(kCommentKey) + std::string(fingerprint) + "\"\n";
}

std::string replace_table_script(std::string_view family, std::string_view name, std::string_view fingerprint,
                                 std::string_view body) {
  const std::string ref = "table " + std::string(family) + " " + std::string(name);
  return ref + "\ndelete " + ref + "\n" + ref + " {\n" + fingerprint_comment(fingerprint) + std::string(body) + "}\n";
}

std::string table_fingerprint(std::string_view listing) {
  auto at = listing.find(kCommentKey);
  if (at == std::string_view::npos) return {};
  at += kCommentKey.size();
  auto end = listing.find('"', at);
  if (end == std::string_view::npos) return {};
  return std::string(listing.substr(at, end - at));
}

}  // namespace cats::nft
