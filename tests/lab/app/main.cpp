// cats-app: the lab's synthetic application instance. See server.hpp and --help.
#include "server.hpp"

#include "base/ip.hpp"
#include "base/log.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace {

const char kUsage[] =
    "usage: cats-app --name NAME --listen ADDR:PORT --workers N --service-ms MS\n"
    "                [--load-listen ADDR:PORT] [--background PCT] [--queue N] [--window-ms MS] [-v]\n"
    "  Serves HTTP/1.1 on --listen: every request (any path) waits for one of N workers,\n"
    "  which is occupied MS ms, then gets 200 with body NAME and header X-Cats-Instance.\n"
    "  Beyond --queue (default 4096) waiting requests: 503. GET /nowork is answered at once\n"
    "  (no worker, not counted): for benchmarks of the network, not of the app.\n"
    "  --background PCT: percent (0..99) of each worker's time taken by synthetic jobs.\n"
    "  Load endpoint (default ADDR:PORT+1): GET /load, POST /load {\"background\": 0..0.99}\n"
    "  (a fraction), GET /healthz, GET /metrics (vLLM's names).\n"
    "\n"
    "       cats-app --name NAME --listen ADDR:PORT --llm [--batch B] [--prefill-ms P] [--token-ms T]\n"
    "                [--tokens N] [--gpus G] [--gpu-memory-mib M] [--load-listen ADDR:PORT] [--queue N]\n"
    "  An LLM-style server with continuous batching (llm_engine.hpp): at most B requests\n"
    "  (default 8) run at once, the rest wait in a FIFO queue (beyond --queue: 503). An\n"
    "  admitted request's first token comes P ms later (default 100), then N more tokens\n"
    "  (default 16), one every T ms (default 10). The answer streams (chunked), headers\n"
    "  and first token together, one chunk per token. GET /metrics on the load endpoint:\n"
    "  vllm:num_requests_running/waiting, vllm:gpu_cache_usage_perc,\n"
    "  vllm:time_to_first_token_seconds, and for G synthetic GPUs (default 1, of M MiB,\n"
    "  default 24576) DCGM_FI_DEV_GPU_UTIL, DCGM_FI_DEV_FB_USED/FREE; --gpus 0: a CPU-only\n"
    "  server, no DCGM series.\n";

template <class T>
bool parse_num(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

std::optional<cats::app::TcpEndpoint> parse_tcp(const std::string& s) {
  auto ep = cats::parse_endpoint(s);
  if (!ep) {
    std::cerr << "cats-app: " << ep.error().message << "\n";
    return std::nullopt;
  }
  return cats::app::TcpEndpoint(ep->address(), ep->port());
}

int usage_error(const std::string& msg) {
  std::cerr << "cats-app: " << msg << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  cats::app::AppConfig cfg;
  std::optional<cats::app::TcpEndpoint> listen, load_listen;
  bool have_workers = false, have_service = false;
  cats::app::LlmOptions llm;
  bool llm_mode = false, llm_flags = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "-v") {
      cats::log::set_level(cats::log::Level::debug);
      continue;
    }
    if (a == "--llm") {
      llm_mode = true;
      continue;
    }
    if (i + 1 >= argc) return usage_error("missing value for " + a);
    std::string v = argv[++i];
    if (a == "--name") {
      cfg.name = v;
    } else if (a == "--listen") {
      if (!(listen = parse_tcp(v))) return 2;
    } else if (a == "--load-listen") {
      if (!(load_listen = parse_tcp(v))) return 2;
    } else if (a == "--workers") {
      if (!parse_num(v, cfg.workers) || cfg.workers < 1 || cfg.workers > 1024)
        return usage_error("--workers must be 1..1024");
      have_workers = true;
    } else if (a == "--service-ms") {
      unsigned ms = 0;
      if (!parse_num(v, ms) || ms > 60000) return usage_error("--service-ms must be 0..60000");
      cfg.service = std::chrono::milliseconds(ms);
      have_service = true;
    } else if (a == "--background") {
      // Percent on the command line (the option says PCT); JSON uses a fraction.
      if (!v.empty() && v.back() == '%') v.pop_back();
      double pct = 0;
      if (!parse_num(v, pct) || !(pct >= 0 && pct <= 99)) return usage_error("--background must be 0..99 (percent)");
      cfg.background = pct / 100.0;
    } else if (a == "--window-ms") {
      unsigned ms = 0;
      if (!parse_num(v, ms) || ms < 100 || ms > 60000) return usage_error("--window-ms must be 100..60000");
      cfg.window = std::chrono::milliseconds(ms);
    } else if (a == "--queue") {
      if (!parse_num(v, cfg.queue_limit) || cfg.queue_limit < 1 || cfg.queue_limit > 1000000)
        return usage_error("--queue must be 1..1000000");
    } else if (a == "--batch") {
      if (!parse_num(v, llm.batch) || llm.batch < 1 || llm.batch > 1024) return usage_error("--batch must be 1..1024");
      llm_flags = true;
    } else if (a == "--prefill-ms" || a == "--token-ms") {
      unsigned ms = 0;
      if (!parse_num(v, ms) || ms > 60000) return usage_error(a + " must be 0..60000");
      (a == "--prefill-ms" ? llm.prefill : llm.per_token) = std::chrono::milliseconds(ms);
      llm_flags = true;
    } else if (a == "--tokens") {
      if (!parse_num(v, llm.tokens) || llm.tokens > 4096) return usage_error("--tokens must be 0..4096");
      llm_flags = true;
    } else if (a == "--gpus") {
      if (!parse_num(v, cfg.gpus) || cfg.gpus > 64) return usage_error("--gpus must be 0..64");
      llm_flags = true;
    } else if (a == "--gpu-memory-mib") {
      if (!parse_num(v, cfg.gpu_memory_mib) || cfg.gpu_memory_mib < 1 || cfg.gpu_memory_mib > 1048576)
        return usage_error("--gpu-memory-mib must be 1..1048576");
      llm_flags = true;
    } else {
      return usage_error("unknown option " + a);
    }
  }
  if (!cats::app::valid_instance_name(cfg.name)) return usage_error("--name: 1..64 of [A-Za-z0-9._-] required");
  if (!listen) return usage_error("--listen is required");
  if (llm_mode) {
    if (have_workers || have_service || cfg.background > 0)
      return usage_error("--workers, --service-ms and --background do not apply with --llm");
    cfg.llm = llm;
  } else if (llm_flags) {
    return usage_error("--batch, --prefill-ms, --token-ms, --tokens, --gpus and --gpu-memory-mib need --llm");
  } else if (!have_workers || !have_service) {
    return usage_error("--workers and --service-ms are required");
  }
  cfg.listen = *listen;
  if (load_listen) {
    cfg.load_listen = *load_listen;
  } else {
    if (listen->port() == 65535) return usage_error("--listen port 65535 leaves no PORT+1; give --load-listen");
    cfg.load_listen = cats::app::TcpEndpoint(listen->address(), static_cast<unsigned short>(listen->port() + 1));
  }

  // Blocked before any thread starts, so every thread inherits the mask and the signals
  // wait for sigwait below instead of killing the process mid-request.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto server = cats::app::AppServer::start(cfg);
  if (!server) {
    std::cerr << "cats-app: " << server.error().message << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  cats::log::info("app", cfg.name + ": signal " + std::to_string(sig) + ", shutting down");
  (*server)->stop();
  return 0;
}
