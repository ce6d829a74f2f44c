// libnftables, RAII. One nft_ctx per Nft; output and errors are buffered (not printed to
// stdout/stderr) so the daemon can log them and return them to the caller.
// Not thread-safe: a context serves one thread at a time (libnftables keeps per-context
// state: cache, buffers).
#include "nft/nft.hpp"

#include "netlink/socket.hpp"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <optional>
#include <sstream>
#include <string>

namespace cats::nft {
namespace {

// Rulesets we generate are a few hundred lines; refuse anything absurd rather than hand it
// to the parser.
constexpr size_t kMaxScriptBytes = 4u << 20;
constexpr size_t kMaxNameLen = 64;  // NFT_NAME_MAXLEN (256) minus room; ours are short

struct CtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

// nft(8) families.
bool valid_family(std::string_view f) {
  static constexpr std::array<std::string_view, 6> kFamilies = {"ip", "ip6", "inet", "arp", "bridge", "netdev"};
  for (auto k : kFamilies) {
    if (f == k) return true;
  }
  return false;
}

// Identifiers we splice into scripts: [A-Za-z_][A-Za-z0-9_-]*, bounded, so a name can never
// inject another command.
bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > kMaxNameLen) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(n.front())) return false;
  for (char c : n) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '-') return false;
  }
  return true;
}

Status check_table_ref(std::string_view family, std::string_view name) {
  if (!valid_family(family)) return Error::msg("nft: invalid family '" + std::string(family) + "'");
  if (!valid_name(name)) return Error::msg("nft: invalid table name '" + std::string(name) + "'");
  return ok();
}

int gen_attr(const nlattr* a, void* data) {
  if (mnl_attr_get_type(a) == NFTA_GEN_ID && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
    *static_cast<std::optional<uint32_t>*>(data) = ntohl(mnl_attr_get_u32(a));
  return MNL_CB_OK;
}

}  // namespace

struct Nft::Impl {
  std::unique_ptr<nft_ctx, CtxFree> ctx;
  std::optional<netlink::Socket> gen_sock;  // opened on first use

  Result<uint32_t> generation() {
    if (!gen_sock) {
      CATS_TRY_ASSIGN(s, netlink::Socket::open(NETLINK_NETFILTER, "nft generation"));
      gen_sock.emplace(std::move(s));
    }
    std::array<char, 256> buf{};  // header + nfgenmsg: 20 bytes
    nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
    h->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
    // NLM_F_ACK: the NEWGEN reply is not the end of the exchange by itself; the ACK after
    // it is (netlink_rcv_skb acks every request that asks).
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = gen_sock->next_seq();
    auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = 0;
    std::optional<uint32_t> id;
    auto on_msg = [&](const nlmsghdr* m) -> Status {
      if (m->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN) &&
          m->nlmsg_len >= MNL_NLMSG_HDRLEN + sizeof(nfgenmsg))
        mnl_attr_parse(m, sizeof(nfgenmsg), gen_attr, &id);
      return ok();
    };
    // A late reply after a failure carries an old sequence number: the socket skips it.
    CATS_TRY(gen_sock->exchange(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(h), h->nlmsg_len), on_msg,
                                "read"));
    if (!id) return Error::msg("nft generation: reply without NFTA_GEN_ID");
    return *id;
  }

  // Runs one buffer; returns the output buffer's contents. Both buffers are read every time:
  // reading rewinds them, so nothing leaks into the next command's text.
  Result<std::string> exec(std::string_view script) {
    if (script.size() > kMaxScriptBytes) return Error::msg("nft: script too large");
    const std::string buf(script);  // libnftables wants a NUL-terminated buffer
    const int rc = nft_run_cmd_from_buffer(ctx.get(), buf.c_str());
    std::string out = nft_ctx_get_output_buffer(ctx.get());
    std::string err = trim(nft_ctx_get_error_buffer(ctx.get()));
    if (rc != 0) {
      if (err.empty()) err = "nft: command failed (rc " + std::to_string(rc) + ")";
      return Error::msg(std::move(err));
    }
    // Explicit: Error is constructible from a string too (C++20 aggregate init).
    return Result<std::string>(boost::system::in_place_value, std::move(out));
  }
};

Nft::Nft(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Nft::Nft(Nft&&) noexcept = default;
Nft& Nft::operator=(Nft&&) noexcept = default;
Nft::~Nft() = default;

Result<Nft> Nft::open() {
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!impl->ctx) return Error::msg("nft: nft_ctx_new failed");
  if (nft_ctx_buffer_output(impl->ctx.get()) != 0 || nft_ctx_buffer_error(impl->ctx.get()) != 0)
    return Error::msg("nft: cannot buffer libnftables output");
  return Nft(std::move(impl));
}

Status Nft::run(std::string_view script) {
  CATS_TRY(impl_->exec(script));
  return ok();
}

Result<std::string> Nft::query(std::string_view command) { return impl_->exec(command); }

Result<std::string> Nft::query_json(std::string_view command) {
  // Scoped to this call: every other command keeps the text output callers parse.
  const unsigned flags = nft_ctx_output_get_flags(impl_->ctx.get());
  nft_ctx_output_set_flags(impl_->ctx.get(), flags | NFT_CTX_OUTPUT_JSON);
  auto out = impl_->exec(command);
  nft_ctx_output_set_flags(impl_->ctx.get(), flags);
  return out;
}

Result<bool> Nft::table_exists(std::string_view family, std::string_view name) {
  CATS_TRY(check_table_ref(family, name));
  // "list tables <family>" prints one "table <family> <name>" line per table, and unlike
  // "list table" it does not fail when ours is absent, so no error text needs parsing.
  CATS_TRY_ASSIGN(out, impl_->exec("list tables " + std::string(family)));
  const std::string want = "table " + std::string(family) + " " + std::string(name);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (trim(line) == want) return true;
  }
  return false;
}

Result<std::optional<std::string>> Nft::list_table(std::string_view family, std::string_view name) {
  CATS_TRY_ASSIGN(exists, table_exists(family, name));
  if (!exists) return std::optional<std::string>{};
  CATS_TRY_ASSIGN(text, impl_->exec("list table " + std::string(family) + " " + std::string(name)));
  return std::optional<std::string>(std::move(text));
}

Result<uint32_t> Nft::generation() { return impl_->generation(); }

Status Nft::delete_table(std::string_view family, std::string_view name) {
  CATS_TRY(check_table_ref(family, name));
  // "add" of an existing table is a no-op, so add+delete in one transaction removes the
  // table whether or not it existed, atomically and without a check-then-act race
  // ("destroy table" would do the same but needs nft >= 1.0.8 / kernel >= 6.3).
  const std::string ref = std::string(family) + " " + std::string(name);
  auto st = run("add table " + ref + "\ndelete table " + ref + "\n");
  if (!st) return st.error().context("nft: delete table " + ref);
  return ok();
}

}  // namespace cats::nft
