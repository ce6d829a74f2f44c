// libnftables, RAII. We own one table per family ("inet cats"); everything we send is a
// script applied as one transaction (atomic: all or nothing).
#pragma once

#include "base/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cats::nft {

// The nftables operations, as an interface: the overlay Applier and steering's
// Programmer take a Tables&, so their unit tests run against a fake; Nft is libnftables.
class Tables {
 public:
  virtual ~Tables() = default;

  // Run a script as one transaction. Error message is libnftables' own error text.
  virtual Status run(std::string_view script) = 0;
  // Run a command and return its output (e.g. "list table inet cats").
  virtual Result<std::string> query(std::string_view command) = 0;
  // The same, with libnftables' JSON output (`nft -j`, libnftables-json(5)) for this one
  // command only: for programs reading state back (element values as plain numbers).
  virtual Result<std::string> query_json(std::string_view command) = 0;
  // Whether "table <family> <name>" exists.
  virtual Result<bool> table_exists(std::string_view family, std::string_view name) = 0;
  // `list table <family> <name>`, or nullopt when the table does not exist.
  virtual Result<std::optional<std::string>> list_table(std::string_view family, std::string_view name) = 0;
  // Delete our table if it exists (absent = success).
  virtual Status delete_table(std::string_view family, std::string_view name) = 0;
  // The network namespace's nftables ruleset generation (NFT_MSG_GETGEN): the kernel adds
  // one per committed transaction, whoever commits it, and nothing else moves it (packets
  // updating dynamic sets do not). Equal generations: the ruleset is unchanged in between.
  virtual Result<uint32_t> generation() = 0;
};

class Nft final : public Tables {
 public:
  static Result<Nft> open();
  Nft(Nft&&) noexcept;
  Nft& operator=(Nft&&) noexcept;
  ~Nft() override;

  Status run(std::string_view script) override;
  Result<std::string> query(std::string_view command) override;
  Result<std::string> query_json(std::string_view command) override;
  Result<bool> table_exists(std::string_view family, std::string_view name) override;
  Result<std::optional<std::string>> list_table(std::string_view family, std::string_view name) override;
  Status delete_table(std::string_view family, std::string_view name) override;
  Result<uint32_t> generation() override;

 private:
  struct Impl;
  explicit Nft(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cats::nft
