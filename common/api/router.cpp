#include "api/api.hpp"
#include "base/log.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <exception>

namespace cats::api {

const std::string& Request::header(const std::string& name) const {
  static const std::string kNone;
  auto it = headers.find(name);
  return it == headers.end() ? kNone : it->second;
}

std::string error_code_for(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "timeout";
    case 409: return "conflict";
    case 413: return "too_large";
    case 415: return "unsupported_media_type";
    case 429: return "too_many_requests";
    case 431: return "headers_too_large";
    case 500: return "internal";
    case 503: return "unavailable";
    default: return "error";
  }
}

Response Response::text(std::string body, std::string content_type, int status) {
  Response r;
  r.status = status;
  r.raw = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Response Response::later(std::shared_ptr<Deferred> d) {
  Response r;
  r.deferred = std::move(d);
  return r;
}

void Deferred::fulfil(Response r) {
  std::vector<std::function<void(int)>> waiters;
  const int status = r.status;
  {
    std::lock_guard lk(mu_);
    if (done_) return;
    done_ = true;
    status_ = status;
    answer_ = std::move(r);
    waiters.swap(waiters_);
  }
  cv_.notify_all();
  for (auto& w : waiters) w(status);
}

void Deferred::on_fulfil(std::function<void(int status)> f) {
  int status = 0;
  {
    std::lock_guard lk(mu_);
    if (!done_) {
      waiters_.push_back(std::move(f));
      return;
    }
    status = status_;
  }
  f(status);
}

std::optional<Response> Deferred::take() {
  std::lock_guard lk(mu_);
  return std::exchange(answer_, std::nullopt);
}

Response Deferred::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [this] { return done_; });
  auto out = std::exchange(answer_, std::nullopt);
  return out ? std::move(*out) : Response::error(500, "the deferred answer was taken twice");
}

Response Response::streamed(std::shared_ptr<StreamBody> s, std::string content_type) {
  Response r;
  r.stream = std::move(s);
  r.content_type = std::move(content_type);
  return r;
}

Response Response::error(int status, const std::string& message) {
  return error(status, error_code_for(status), message);
}

Response Response::error(int status, std::string code, const std::string& message, std::vector<FieldError> fields) {
  boost::json::array fs;
  for (auto& f : fields) fs.push_back(boost::json::object{{"field", f.field}, {"message", f.message}});
  boost::json::object e{{"code", std::move(code)}, {"message", message}, {"fields", std::move(fs)}};
  return Response::json(boost::json::object{{"error", std::move(e)}}, status);
}

const std::vector<std::pair<std::string, std::string>>& security_headers() {
  static const std::vector<std::pair<std::string, std::string>> h = {
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
      {"X-Frame-Options", "DENY"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  };
  return h;
}

void Router::add(std::string method, std::string path, Handler h) {
  routes_[{std::move(method), std::move(path)}] = std::move(h);
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, handler] : routes_) out.push_back(key);
  return out;
}

std::string Router::allow(const std::string& path) const {
  std::string out;
  // Keys are sorted by method first, so scan all; route tables are small.
  for (const auto& [key, handler] : routes_) {
    if (key.second != path) continue;
    if (!out.empty()) out += ", ";
    out += key.first;
  }
  return out;
}

Response Router::dispatch(const Request& r) const {
  if (!observer_) return run(r);
  const auto t0 = std::chrono::steady_clock::now();
  Response out = run(r);
  const bool matched = routes_.count({r.method, r.path}) > 0;
  std::string route = matched ? r.path : std::string();
  if (out.deferred) {
    // Timed to the answer, wherever it is computed (the observer is thread-safe).
    out.deferred->on_fulfil([obs = observer_, route = std::move(route), t0](int status) {
      obs(route, status, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    });
    return out;
  }
  observer_(route, out.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

Response Router::run(const Request& r) const {
  auto it = routes_.find({r.method, r.path});
  if (it == routes_.end()) {
    if (!allow(r.path).empty()) return Response::error(405, "method " + r.method + " not allowed on " + r.path);
    return Response::error(404, "no such endpoint: " + r.path);
  }
  // A buggy handler (or guard) must cost one request, not the daemon.
  try {
    if (guard_)
      if (auto stop = guard_(r)) return std::move(*stop);
    return it->second(r);
  } catch (const std::exception& e) {
    log::error("api", r.method + " " + r.path + ": handler failed: " + e.what());
    return Response::error(500, std::string("internal error: ") + e.what());
  } catch (...) {
    log::error("api", r.method + " " + r.path + ": handler failed");
    return Response::error(500, "internal error");
  }
}

}  // namespace cats::api
