// libnftables, RAII. We own one table per family ("inet cats"); everything we send is a
// script applied as one transaction (atomic: all or nothing).
#pragma once

#include "base/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cats::nft {

class Nft {
 public:
  static Result<Nft> open();
  Nft(Nft&&) noexcept;
  Nft& operator=(Nft&&) noexcept;
  ~Nft();

  // Run a script as one transaction. Error message is libnftables' own error text.
  Status run(std::string_view script);
  // Run a command and return its output (e.g. "list table inet cats").
  Result<std::string> query(std::string_view command);
  // The same, with libnftables' JSON output (`nft -j`, libnftables-json(5)) for this one
  // command only: for programs reading state back (element values as plain numbers).
  Result<std::string> query_json(std::string_view command);
  // Whether "table <family> <name>" exists.
  Result<bool> table_exists(std::string_view family, std::string_view name);
  // `list table <family> <name>`, or nullopt when the table does not exist.
  Result<std::optional<std::string>> list_table(std::string_view family, std::string_view name);
  // Delete our table if it exists (absent = success).
  Status delete_table(std::string_view family, std::string_view name);
  // The network namespace's nftables ruleset generation (NFT_MSG_GETGEN): the kernel adds
  // one per committed transaction, whoever commits it, and nothing else moves it (packets
  // updating dynamic sets do not). Equal generations: the ruleset is unchanged in between.
  Result<uint32_t> generation();

 private:
  struct Impl;
  explicit Nft(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cats::nft
