// cats-app: a synthetic application instance for the lab. A plain HTTP/1.1 service whose
// requests queue for N workers, and a small HTTP+JSON load endpoint reporting what the
// workers measured (as HAProxy's agent-check and gRPC ORCA backends report load).
#pragma once

#include "llm_engine.hpp"
#include "worker_pool.hpp"
#include "base/result.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cats::app {

using TcpEndpoint = boost::asio::ip::tcp::endpoint;

struct AppConfig {
  std::string name;         // answered as the body and the X-Cats-Instance header
  TcpEndpoint listen;       // service; port 0 picks a free one
  TcpEndpoint load_listen;  // load endpoint; port 0 picks a free one
  unsigned workers = 1;
  std::chrono::milliseconds service{10};
  double background = 0;  // fraction 0 .. 0.99
  size_t queue_limit = 4096;
  // The span utilisation and delay are measured over (as ORCA-style backends report a
  // recent window); shorter = a load change shows sooner, noisier.
  std::chrono::milliseconds window{1000};
  size_t max_connections = 1024;  // service connections; beyond: 503 and close
  size_t header_limit = 8 * 1024;
  size_t body_limit = 64 * 1024;
  // Per request read (also bounds an idle keep-alive) and per response write.
  std::chrono::milliseconds io_timeout{10000};
  // Set: an LLM-style server (llm_engine.hpp) instead of the worker pool; each request's
  // answer streams one chunk per token. The engine's queue_limit and window come from
  // queue_limit and window above.
  std::optional<LlmOptions> llm;
  // LLM mode: synthetic GPUs exported in DCGM's names; 0 = a CPU-only server (no DCGM
  // series at all, as a host without GPUs runs no dcgm-exporter).
  unsigned gpus = 1;
  unsigned gpu_memory_mib = 24576;  // per GPU (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)
};

// The name travels in a header, so it is restricted to [A-Za-z0-9._-], 1..64 chars.
bool valid_instance_name(std::string_view name);

class AppServer {
 public:
  static Result<std::unique_ptr<AppServer>> start(const AppConfig& cfg);
  virtual ~AppServer() = default;  // stops

  // Where the listeners actually are (ephemeral ports resolved).
  virtual TcpEndpoint service_endpoint() const = 0;
  virtual TcpEndpoint load_endpoint() const = 0;
  // The GET /load document.
  virtual boost::json::object load() const = 0;
  virtual void set_background(double fraction) = 0;
  // Idempotent; joins all threads.
  virtual void stop() = 0;
};

}  // namespace cats::app
