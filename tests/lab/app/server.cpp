// One I/O thread (callback-style Beast, as common/api's UnixServer) for both listeners;
// the workers never touch a socket: a finished request is posted back to the I/O thread,
// so no strands are needed.
#include "server.hpp"

#include "api/http.hpp"
#include "api/prometheus.hpp"
#include "base/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <optional>
#include <thread>

namespace cats::app {

bool valid_instance_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

// What every connection needs; shared so it outlives the server object while handlers drain.
struct Shared {
  net::io_context& ioc;
  AppConfig cfg;
  WorkerPool* pool;  // exactly one of pool and llm is set
  LlmRunner* llm;
  api::ServerLimits limits;
  api::Router router;  // the load endpoint
  std::atomic<size_t> service_sessions{0};
  size_t load_sessions = 0;  // only touched on the I/O thread
  // Each served request's time from its arrival to its answer, which for this app is its
  // first (and only) token (only touched on the I/O thread).
  api::prom::Histogram first_token{api::prom::duration_buckets()};
};

// --llm: the engine's figures under the same keys where they mean the same (a batch slot
// for a vCPU), so a vCPE given this load endpoint still samples something sensible.
json::object make_llm_load(const Shared& sh) {
  LlmSnapshot s = sh.llm->snapshot();
  json::object o;
  o["name"] = sh.cfg.name;
  o["mode"] = "llm";
  o["vcpus"] = s.batch;
  o["utilization"] = static_cast<double>(s.running) / s.batch;
  o["busy_workers"] = s.running;
  o["queue_depth"] = s.waiting;
  o["active_sessions"] = sh.service_sessions.load();
  o["requests_total"] = s.requests_total;
  o["rejected_total"] = s.rejected_total;
  o["gpus"] = sh.cfg.gpus;
  o["gpu_busy"] = s.gpu_busy;
  return o;
}

json::object make_load(const Shared& sh) {
  if (sh.llm) return make_llm_load(sh);
  PoolSnapshot s = sh.pool->snapshot();
  json::object o;
  o["name"] = sh.cfg.name;
  o["vcpus"] = s.vcpus;
  o["utilization"] = s.utilization;
  // Only a delay measured within the window is "processing_delay_ms": a consumer (the
  // vCPE's sampler) takes it as the instance's current delay. Without requests there is
  // none, and neither 0 (never measured: "infinitely fast") nor the last-known mean (a
  // 95 %-load figure kept forever after the load fell, so the instance never gets the
  // traffic that would refresh it) is current; the consumer then estimates from
  // utilisation. The last-known mean stays visible as last_processing_delay_ms.
  if (s.delay.samples > 0 && !s.delay.stale) o["processing_delay_ms"] = s.delay.mean_ms;
  if (s.delay.samples > 0) o["last_processing_delay_ms"] = s.delay.mean_ms;
  o["delay_samples"] = s.delay.samples;
  o["delay_stale"] = s.delay.stale;
  o["active_sessions"] = sh.service_sessions.load();
  o["queue_depth"] = s.queue_depth;
  o["busy_workers"] = s.busy_workers;
  o["requests_total"] = s.requests_total;
  o["rejected_total"] = s.rejected_total;
  o["background"] = s.background;
  o["service_ms"] = sh.cfg.service.count();
  return o;
}

api::Response post_load(Shared& sh, const api::Request& r) {
  if (!sh.pool) return api::Response::error(409, "no background load in --llm mode");
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return api::Response::error(400, "body must be a JSON object");
  const json::value* bg = v.as_object().if_contains("background");
  if (!bg || !(bg->is_number())) return api::Response::error(400, "\"background\" (number 0..0.99) is required");
  double f = bg->to_number<double>(ec);
  // Out of range is refused rather than clamped: a test asking for 1.5 has a bug to see.
  if (ec || !(f >= 0 && f <= WorkerPool::kMaxBackground))
    return api::Response::error(400, "\"background\" must be within 0..0.99");
  sh.pool->set_background(f);
  log::info("app", sh.cfg.name + ": background set to " + std::to_string(f));
  return api::Response::json(make_load(sh));
}

// GET /metrics in vLLM's names (vllm/engine/metrics.py; what the vCPE's `vllm` preset
// reads, sampler/prom_map.cpp), so the lab can stand in for an LLM server: requests at a
// worker are "running", queued ones "waiting", and the time to answer is the time to the
// first token. The busy share of the workers stands in for the KV-cache usage.
api::Response llm_metrics(Shared& sh);

api::Response metrics(Shared& sh) {
  if (sh.llm) return llm_metrics(sh);
  PoolSnapshot s = sh.pool->snapshot();
  api::prom::Exposition e;
  const api::prom::Labels l{{"model_name", sh.cfg.name}};
  e.gauge("vllm:num_requests_running", "Number of requests currently running on GPU.", l, s.busy_workers);
  e.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", l,
          static_cast<double>(s.queue_depth));
  e.gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", l, s.utilization);
  e.family("vllm:time_to_first_token_seconds", api::prom::Type::histogram,
           "Histogram of time to first token in seconds.");
  e.histogram("vllm:time_to_first_token_seconds", l, sh.first_token.value());
  return api::Response::text(e.render(), api::prom::kContentType);
}

// A synthetic GPU's UUID in nvidia-smi's form (GPU-8-4-4-4-12 hex), stable per name and
// index so a restarted instance keeps its series.
std::string gpu_uuid(const std::string& name, unsigned index) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : name + "#" + std::to_string(index)) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char buf[48];
  std::snprintf(buf, sizeof buf, "GPU-%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(h >> 32),
                static_cast<unsigned>(h >> 16) & 0xffff, static_cast<unsigned>(h) & 0xffff, index & 0xffff,
                static_cast<unsigned long long>(h & 0xffffffffffffull));
  return buf;
}

// --llm: vLLM's series from the engine (vllm/engine/metrics.py, what the vCPE's `vllm`
// preset reads) and, unless --gpus 0, dcgm-exporter's (etc/default-counters.csv, the
// `dcgm` preset; labels gpu, UUID, device, modelName as dcgm-exporter sets them).
// The synthetic GPUs run the one batch together (tensor parallel): each is as busy as the
// engine (DCGM_FI_DEV_GPU_UTIL is the share of time a kernel ran, so ~100 whenever
// anything runs, whatever the queue). Framebuffer: the weights hold 55 % of each GPU,
// the KV cache of the running requests up to 35 % more (running / batch). A real vLLM
// preallocates its cache, so its FB_USED is flat; here it moves, for the selector's
// memory-headroom filter to have something to see.
api::Response llm_metrics(Shared& sh) {
  LlmSnapshot s = sh.llm->snapshot();
  api::prom::Exposition e;
  const api::prom::Labels l{{"model_name", sh.cfg.name}};
  e.gauge("vllm:num_requests_running", "Number of requests currently running on GPU.", l,
          static_cast<double>(s.running));
  e.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", l,
          static_cast<double>(s.waiting));
  e.gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", l,
          static_cast<double>(s.running) / s.batch);
  e.family("vllm:time_to_first_token_seconds", api::prom::Type::histogram,
           "Histogram of time to first token in seconds.");
  e.histogram("vllm:time_to_first_token_seconds", l, sh.first_token.value());
  e.counter("vllm:request_success_total", "Count of successfully processed requests.",
            {{"model_name", sh.cfg.name}, {"finished_reason", "length"}}, s.requests_total);
  if (sh.cfg.gpus > 0) {
    e.family("DCGM_FI_DEV_GPU_UTIL", api::prom::Type::gauge, "GPU utilization (in %).");
    e.family("DCGM_FI_DEV_FB_FREE", api::prom::Type::gauge, "Framebuffer memory free (in MiB).");
    e.family("DCGM_FI_DEV_FB_USED", api::prom::Type::gauge, "Framebuffer memory used (in MiB).");
    const double total = sh.cfg.gpu_memory_mib;
    const double used = std::round(total * (0.55 + 0.35 * static_cast<double>(s.running) / s.batch));
    for (unsigned g = 0; g < sh.cfg.gpus; ++g) {
      const api::prom::Labels gl{{"gpu", std::to_string(g)},
                                 {"UUID", gpu_uuid(sh.cfg.name, g)},
                                 {"device", "nvidia" + std::to_string(g)},
                                 {"modelName", "cats-app synthetic GPU"}};
      e.gauge("DCGM_FI_DEV_GPU_UTIL", gl, std::round(100 * s.gpu_busy));
      e.gauge("DCGM_FI_DEV_FB_FREE", gl, total - used);
      e.gauge("DCGM_FI_DEV_FB_USED", gl, used);
    }
  }
  return api::Response::text(e.render(), api::prom::kContentType);
}

api::Router make_router(Shared& sh) {
  api::Router r;
  r.add("GET", "/metrics", [&sh](const api::Request&) { return metrics(sh); });
  r.add("GET", "/load", [&sh](const api::Request&) { return api::Response::json(make_load(sh)); });
  r.add("POST", "/load", [&sh](const api::Request& req) { return post_load(sh, req); });
  r.add("GET", "/healthz", [](const api::Request&) { return api::Response::json(json::object{{"ok", true}}); });
  return r;
}

using BeastResponse = api::detail::BeastResponse;

BeastResponse plain(int status, const std::string& body, unsigned version, bool keep_alive) {
  BeastResponse res;
  res.version(version);
  res.result(static_cast<unsigned>(status));
  res.set(http::field::server, "cats-app");
  res.set(http::field::content_type, "text/plain");
  res.body() = body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, std::shared_ptr<Shared> sh, bool service)
      : stream_(std::move(s)), sh_(std::move(sh)), service_(service) {
    if (service_) ++sh_->service_sessions;
    else ++sh_->load_sessions;
  }
  ~Session() {
    if (service_) --sh_->service_sessions;
    else --sh_->load_sessions;
  }

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    api::detail::configure_parser(*parser_, sh_->limits);
    // Covers the whole request, so also bounds how long an idle keep-alive lingers.
    stream_.expires_after(sh_->cfg.io_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      int status = api::detail::status_for_read_error(ec);
      if (status == 0) return close();  // EOF, reset or timeout: nobody to answer
      return send(api::detail::error_reply(status, "bad request: " + ec.message()));
    }
    if (!service_) return send(api::detail::handle(sh_->router, parser_->get(), {}));
    const auto& req = parser_->get();
    version_ = req.version();
    // A HEAD answer would carry the body and desync a kept-alive stream; close after it.
    keep_alive_ = req.keep_alive() && req.method() != http::verb::head;
    // "/nowork": answered at once on the I/O thread, no worker, not counted as load, so a
    // benchmark measures the network and the data plane (connection rate, failover gaps)
    // rather than the service time and the background load.
    if (req.target() == "/nowork") return on_served();
    // The wait for a worker is the server's, not the client's: no timeout while queued.
    stream_.expires_never();
    net::io_context& ioc = sh_->ioc;
    auto arrived = std::chrono::steady_clock::now();
    if (sh_->llm && req.method() == http::verb::head)  // an answer without its body: no tokens to stream
      return send(plain(405, "HEAD: the answer is a token stream\n", version_, false));
    if (sh_->llm) return start_llm(arrived);
    bool queued = sh_->pool->submit([self = shared_from_this(), &ioc, arrived] {
      net::post(ioc, [self, arrived] {
        self->sh_->first_token.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count());
        self->on_served();
      });
    });
    if (!queued) send(plain(503, "queue full\n", version_, keep_alive_));
  }

  // ---- --llm: the answer streams, one chunk per token -------------------------------
  // Headers and the first token leave together as soon as the first token exists, so a
  // client's time to the first body byte is its time to first token (vLLM's streaming
  // completions answer the same way, as server-sent events).
  void start_llm(std::chrono::steady_clock::time_point arrived) {
    if (version_ < 11) return send(plain(505, "a streamed answer needs HTTP/1.1\n", version_, false));
    llm_.emplace();
    net::io_context& ioc = sh_->ioc;
    auto id = sh_->llm->submit([self = shared_from_this(), &ioc, arrived](const LlmEvent& ev) {
      net::post(ioc, [self, ev, arrived] { self->on_token(ev, arrived); });
    });
    if (!id) return send(plain(503, "queue full\n", version_, keep_alive_));
    llm_->id = *id;
  }

  void on_token(const LlmEvent& ev, std::chrono::steady_clock::time_point arrived) {
    if (!llm_ || llm_->failed) return;
    if (ev.token == 1)
      sh_->first_token.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count());
    llm_->pending += std::to_string(ev.token) + (ev.last ? "\n" : " ");
    llm_->complete = ev.last;
    pump();
  }

  // One write at a time: the header, then whatever tokens piled up meanwhile as one
  // chunk, then the last chunk once the request is complete.
  void pump() {
    auto& st = *llm_;
    if (st.writing) return;
    auto done = [self = shared_from_this()](beast::error_code ec, size_t) { self->on_llm_write(ec); };
    stream_.expires_after(sh_->cfg.io_timeout);
    if (!st.header) {
      st.header.emplace(http::status::ok, version_);
      st.header->set(http::field::server, "cats-app");
      st.header->set(http::field::content_type, "text/plain");
      st.header->set("X-Cats-Instance", sh_->cfg.name);
      st.header->keep_alive(keep_alive_);
      st.header->chunked(true);
      st.serializer.emplace(*st.header);
      st.writing = true;
      return http::async_write_header(stream_, *st.serializer, std::move(done));
    }
    if (!st.pending.empty()) {
      st.sending = std::move(st.pending);
      st.pending.clear();
      st.writing = true;
      return net::async_write(stream_, http::make_chunk(net::buffer(st.sending)), std::move(done));
    }
    if (st.complete && !st.ended) {
      st.ended = true;
      st.writing = true;
      return net::async_write(stream_, http::make_chunk_last(), std::move(done));
    }
    stream_.expires_never();  // waiting for the engine's next token, not for the client
  }

  void on_llm_write(beast::error_code ec) {
    auto& st = *llm_;
    st.writing = false;
    if (ec) {
      st.failed = true;
      // The client is gone: free its batch slot (vLLM aborts such a request too).
      if (!st.complete) sh_->llm->cancel(st.id);
      return close();
    }
    if (!st.ended) return pump();
    bool keep = keep_alive_;
    llm_.reset();
    if (!keep) return close();
    do_read();
  }

  void on_served() {
    auto res = plain(200, sh_->cfg.name, version_, keep_alive_);
    res.set("X-Cats-Instance", sh_->cfg.name);
    send(std::move(res));
  }

  void send(BeastResponse res) {
    res_ = std::move(res);
    stream_.expires_after(sh_->cfg.io_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !res_.keep_alive()) return close();
    res_ = {};
    do_read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> sh_;
  bool service_;
  beast::flat_buffer buffer_;
  std::optional<api::detail::RequestParser> parser_;  // re-created per request (one-shot)
  BeastResponse res_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  struct LlmStream {
    // A declared constructor: clang 14 judges std::optional<LlmStream>::emplace() inside the
    // enclosing class before the member initialisers are parsed (is_constructible false).
    LlmStream() {}  // NOLINT(modernize-use-equals-default)
    uint64_t id = 0;
    std::optional<http::response<http::empty_body>> header;
    std::optional<http::response_serializer<http::empty_body>> serializer;
    std::string pending;  // tokens not yet written
    std::string sending;  // the chunk being written
    bool writing = false, complete = false, ended = false, failed = false;
  };
  std::optional<LlmStream> llm_;  // the streamed answer in progress (--llm)
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(tcp::acceptor acc, std::shared_ptr<Shared> sh, bool service)
      : acceptor_(std::move(acc)), retry_(sh->ioc), sh_(std::move(sh)), service_(service) {}

  void run() { do_accept(); }
  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void do_accept() {
    acceptor_.async_accept(sh_->ioc, [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      self->on_accept(ec, std::move(s));
    });
  }

  void on_accept(beast::error_code ec, tcp::socket s) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on a failing accept.
      log::warn("app", "accept: " + ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->do_accept();
      });
      return;
    }
    size_t active = service_ ? sh_->service_sessions.load() : sh_->load_sessions;
    // The load endpoint is for a few pollers; it gets a small fixed bound of its own.
    size_t limit = service_ ? sh_->cfg.max_connections : 64;
    if (active >= limit) {
      reject(std::move(s));
    } else {
      beast::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);  // small replies; Nagle would add delay
      std::make_shared<Session>(std::move(s), sh_, service_)->run();
    }
    do_accept();
  }

  // Best effort 503 without waiting on the client: a fresh socket's send buffer takes it.
  static void reject(tcp::socket s) {
    beast::error_code ignored;
    s.non_blocking(true, ignored);
    auto res = plain(503, "too many connections\n", 11, false);
    http::write(s, res, ignored);
    s.shutdown(tcp::socket::shutdown_send, ignored);
  }

  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  std::shared_ptr<Shared> sh_;
  bool service_;
};

Result<tcp::acceptor> open_acceptor(net::io_context& ioc, const TcpEndpoint& ep, const char* what) {
  tcp::acceptor acc(ioc);
  beast::error_code ec;
  std::string where = std::string(what) + " " + ep.address().to_string() + ":" + std::to_string(ep.port());
  acc.open(ep.protocol(), ec);
  if (ec) return Error::sys(ec.value(), "socket " + where);
  // A restarted instance must be able to rebind while old connections sit in TIME_WAIT.
  acc.set_option(net::socket_base::reuse_address(true), ec);
  acc.bind(ep, ec);
  if (ec) return Error::sys(ec.value(), "bind " + where);
  acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error::sys(ec.value(), "listen " + where);
  return acc;
}

class AppServerImpl final : public AppServer {
 public:
  AppServerImpl(std::unique_ptr<WorkerPool> pool, std::unique_ptr<LlmRunner> llm, std::unique_ptr<net::io_context> ioc,
                std::shared_ptr<Shared> sh, std::shared_ptr<Listener> svc, std::shared_ptr<Listener> load,
                TcpEndpoint svc_ep, TcpEndpoint load_ep)
      : pool_(std::move(pool)), llm_(std::move(llm)), ioc_(std::move(ioc)), sh_(std::move(sh)), svc_(std::move(svc)),
        load_(std::move(load)), svc_ep_(svc_ep), load_ep_(load_ep) {
    thread_ = std::thread([this] { run(); });
  }
  ~AppServerImpl() override { stop(); }

  TcpEndpoint service_endpoint() const override { return svc_ep_; }
  TcpEndpoint load_endpoint() const override { return load_ep_; }
  json::object load() const override { return make_load(*sh_); }
  void set_background(double f) override {
    if (pool_) pool_->set_background(f);
  }

  void stop() override {
    if (stopped_.exchange(true)) return;
    // I/O first: afterwards nothing reads sockets, and the pool's callbacks only post to a
    // stopped io_context. Then the pool: dropping its queued jobs frees their sessions on
    // this thread, which races with nothing now. Last the sockets and the io_context.
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
    if (pool_) pool_->stop();
    if (llm_) llm_->stop();
    svc_->close();
    load_->close();
    svc_.reset();
    load_.reset();
    ioc_.reset();
    log::info("app", sh_->cfg.name + ": stopped");
  }

 private:
  void run() {
    // Handlers catch their own exceptions; this is the last line against a library throw.
    for (;;) {
      try {
        ioc_->run();
        return;
      } catch (const std::exception& e) {
        log::error("app", std::string("server loop: ") + e.what());
      }
    }
  }

  std::unique_ptr<WorkerPool> pool_;  // declared first: Shared refers to them
  std::unique_ptr<LlmRunner> llm_;
  std::unique_ptr<net::io_context> ioc_;
  std::shared_ptr<Shared> sh_;
  std::shared_ptr<Listener> svc_, load_;
  TcpEndpoint svc_ep_, load_ep_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

Result<std::unique_ptr<AppServer>> AppServer::start(const AppConfig& cfg) {
  if (!valid_instance_name(cfg.name)) return Error::msg("instance name must be 1..64 of [A-Za-z0-9._-]");
  if (cfg.workers < 1 || cfg.workers > 1024) return Error::msg("workers must be within 1..1024");
  if (cfg.service.count() < 0 || cfg.service > std::chrono::minutes(1))
    return Error::msg("service time must be within 0..60000 ms");
  if (!(cfg.background >= 0 && cfg.background <= WorkerPool::kMaxBackground))
    return Error::msg("background must be within 0..0.99");
  if (cfg.queue_limit < 1 || cfg.max_connections < 1) return Error::msg("queue and connection limits must be >= 1");
  if (cfg.llm) {
    const auto& l = *cfg.llm;
    if (l.batch < 1 || l.batch > 1024) return Error::msg("LLM batch must be within 1..1024");
    if (l.tokens > 4096) return Error::msg("LLM tokens must be within 0..4096");
    if (l.prefill.count() < 0 || l.prefill > std::chrono::minutes(1) || l.per_token.count() < 0 ||
        l.per_token > std::chrono::minutes(1))
      return Error::msg("LLM prefill and per-token times must be within 0..60000 ms");
    if (cfg.gpus > 64 || cfg.gpu_memory_mib < 1 || cfg.gpu_memory_mib > 1048576)
      return Error::msg("gpus must be within 0..64, GPU memory 1..1048576 MiB");
  }

  auto ioc = std::make_unique<net::io_context>(1);
  CATS_TRY_ASSIGN(svc_acc, open_acceptor(*ioc, cfg.listen, "service"));
  CATS_TRY_ASSIGN(load_acc, open_acceptor(*ioc, cfg.load_listen, "load endpoint"));
  TcpEndpoint svc_ep = svc_acc.local_endpoint();
  TcpEndpoint load_ep = load_acc.local_endpoint();

  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<LlmRunner> llm;
  if (cfg.llm) {
    LlmOptions lo = *cfg.llm;
    lo.queue_limit = cfg.queue_limit;
    lo.window = cfg.window;
    llm = std::make_unique<LlmRunner>(lo);
  } else {
    WorkerPool::Options po;
    po.workers = cfg.workers;
    po.service = cfg.service;
    po.queue_limit = cfg.queue_limit;
    po.background = cfg.background;
    po.accounting.window = cfg.window;
    pool = std::make_unique<WorkerPool>(po);
  }

  api::ServerLimits limits;
  limits.header_limit = cfg.header_limit;
  limits.body_limit = cfg.body_limit;
  auto sh = std::shared_ptr<Shared>(new Shared{*ioc, cfg, pool.get(), llm.get(), limits, {}, {}, 0});
  sh->router = make_router(*sh);
  // vLLM's own buckets for the histogram (vllm/engine/metrics.py,
  // histogram_time_to_first_token), finer than ours where a TTFT lies (0.1 .. 10 s), so
  // the vCPE's quantile of them is as coarse as it would be against a real server.
  if (cfg.llm)
    sh->first_token = api::prom::Histogram(
        {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0});
  auto svc = std::make_shared<Listener>(std::move(svc_acc), sh, true);
  auto load = std::make_shared<Listener>(std::move(load_acc), sh, false);
  svc->run();
  load->run();
  std::string what = cfg.llm ? "LLM batch " + std::to_string(cfg.llm->batch) + ", prefill " +
                                     std::to_string(cfg.llm->prefill.count() / 1000000) + " ms, " +
                                     std::to_string(cfg.llm->tokens) + " tokens at " +
                                     std::to_string(cfg.llm->per_token.count() / 1000000) + " ms, " +
                                     std::to_string(cfg.gpus) + " GPU(s)"
                             : std::to_string(cfg.workers) + " workers, " + std::to_string(cfg.service.count()) +
                                   " ms service";
  log::info("app", cfg.name + ": serving on " + svc_ep.address().to_string() + ":" + std::to_string(svc_ep.port()) +
                       ", load endpoint " + load_ep.address().to_string() + ":" + std::to_string(load_ep.port()) +
                       ", " + what);
  return std::unique_ptr<AppServer>(
      new AppServerImpl(std::move(pool), std::move(llm), std::move(ioc), std::move(sh), std::move(svc), std::move(load), svc_ep, load_ep));
}

}  // namespace cats::app
