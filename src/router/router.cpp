#include "router/router.h"

#include <xxhash.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "http/fd_limit.h"
#include "http/http_client.h"
#include "http/http_transport.h"
#include "http/worker_pool.h"
#include "packinfer/error.h"

namespace packinfer::router {
namespace {

using json = nlohmann::json;

// In-flight accounting for one backend request.
struct InFlight {
  explicit InFlight(Backend& b) : b_(b) {
    b_.in_flight++;
    b_.requests++;
  }
  ~InFlight() { b_.in_flight--; }
  Backend& b_;
};

std::string affinity_key(const std::string& body, int32_t chars) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string text;
  if (j.is_object()) {
    if (j.contains("prompt")) {
      text = j["prompt"].is_string() ? j["prompt"].get<std::string>() : j["prompt"].dump();
    } else if (j.contains("messages")) {
      text = j["messages"].dump();
    }
  }
  if (text.empty()) text = body;
  return text.substr(0, static_cast<size_t>(std::max(chars, 1)));
}

api::HttpResponse error_response(int status, const std::string& message) {
  api::HttpResponse res;
  res.status = status;
  res.body = json{{"error", {{"message", message}, {"type", "router_error"}}}}.dump();
  return res;
}

// A backend's reply, passed on with its status, content type and body.
api::HttpResponse relayed(const api::HttpClientResult& up) {
  api::HttpResponse res;
  res.status = up.status;
  const std::string_view type = api::header_value(up.headers, "Content-Type");
  res.content_type = type.empty() ? "application/json" : std::string(type);
  res.body = up.body;
  return res;
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

void parse_backend_url(const std::string& url, std::string& host, int& port) {
  const std::string p = "http://";
  if (url.rfind(p, 0) != 0) {
    throw InvalidArgument("backend URL '" + url + "' must look like http://HOST:PORT");
  }
  std::string rest = url.substr(p.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t c = rest.rfind(':');
  if (c == std::string::npos || c == 0) {
    throw InvalidArgument("backend URL '" + url + "' must look like http://HOST:PORT");
  }
  host = rest.substr(0, c);
  try {
    size_t used = 0;
    port = std::stoi(rest.substr(c + 1), &used);
    if (used != rest.size() - c - 1 || port < 1 || port > 65535) throw std::out_of_range("");
  } catch (const std::exception&) {
    throw InvalidArgument("backend URL '" + url + "' has a bad port");
  }
}

int pick_backend(const std::vector<std::unique_ptr<Backend>>& pool, const std::string& key,
                 int32_t slack, const std::vector<bool>& skip) {
  int best = -1, least = -1;
  uint64_t best_score = 0;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (i < skip.size() && skip[i]) continue;
    const uint64_t score = XXH3_64bits_withSeed(key.data(), key.size(), i * 0x9E3779B97F4A7C15ull);
    if (best < 0 || score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
    if (least < 0 ||
        pool[i]->in_flight.load() < pool[static_cast<size_t>(least)]->in_flight.load()) {
      least = static_cast<int>(i);
    }
  }
  if (best < 0) return -1;
  const int64_t busy = pool[static_cast<size_t>(best)]->in_flight.load();
  const int64_t idle = pool[static_cast<size_t>(least)]->in_flight.load();
  return busy > idle + slack ? least : best;
}

struct Router::Impl {
  RouterOptions options;
  std::vector<std::unique_ptr<Backend>> prefill, decode;  // decode = replicas when co-located
  std::atomic<int64_t> prefill_fallbacks{0}, failed{0};
  std::atomic<bool> stopped{false};
  // Requests wait on their backends on these threads: --max-connections of them at once.
  api::WorkerPool workers;
  api::HttpTransport transport;

  // Options are checked and backend URLs parsed before any worker or socket exists.
  explicit Impl(const RouterOptions& o)
      : options(checked(o)),
        prefill(backends(o.prefill)),
        decode(backends(disaggregated(o) ? o.decode : o.replicas)),
        workers(static_cast<size_t>(std::max(1, o.max_connections))),
        transport({.host = o.host,
                   .port = o.port,
                   // Connections beyond the requests served at once wait in the queue; each
                   // request in flight holds a descriptor to its backend too.
                   .max_connections =
                       api::fit_connections_to_fd_limit(4096, 64 + std::max(1, o.max_connections)),
                   .write_timeout = ms(o.timeout_seconds)},
                  {.dispatch =
                       [this](api::HttpRequest q, std::shared_ptr<api::HttpResponder> out) {
                         dispatch(std::move(q), std::move(out));
                       },
                   .error = [](int status, const std::string& message,
                               const std::string&) { return error_response(status, message); },
                   .on_response = {}}) {}

  static bool disaggregated(const RouterOptions& o) {
    return !o.prefill.empty() || !o.decode.empty();
  }

  static const RouterOptions& checked(const RouterOptions& o) {
    const bool split = disaggregated(o);
    if (split && !o.replicas.empty()) {
      throw InvalidArgument("use either --replica or --prefill/--decode, not both");
    }
    if (split && (o.prefill.empty() || o.decode.empty())) {
      throw InvalidArgument("disaggregated serving needs at least one --prefill and one --decode");
    }
    if (!split && o.replicas.empty()) {
      throw InvalidArgument(
          "the router needs backends: --replica URL... or --prefill URL... "
          "--decode URL...");
    }
    return o;
  }

  static std::vector<std::unique_ptr<Backend>> backends(const std::vector<std::string>& urls) {
    std::vector<std::unique_ptr<Backend>> pool;
    for (const auto& url : urls) {
      auto b = std::make_unique<Backend>();
      b->url = url;
      parse_backend_url(url, b->host, b->port);
      pool.push_back(std::move(b));
    }
    return pool;
  }

  // On an I/O thread: the cheap routes answer at once, completions go to a worker.
  void dispatch(api::HttpRequest q, std::shared_ptr<api::HttpResponder> out) {
    if (q.method == "GET" && q.path == "/health") {
      api::HttpResponse res;
      res.body = "{\"status\":\"ok\"}";
      return out->reply(std::move(res));
    }
    if (q.method == "GET" && q.path == "/metrics") {
      api::HttpResponse res;
      res.content_type = "text/plain; version=0.0.4";
      res.body = metrics();
      return out->reply(std::move(res));
    }
    const bool completion =
        q.method == "POST" && (q.path == "/v1/completions" || q.path == "/v1/chat/completions");
    const bool models = q.method == "GET" && q.path == "/v1/models";
    if (!completion && !models) {
      return out->reply(error_response(404, "unknown route " + q.method + " " + q.path));
    }
    auto shared = std::make_shared<api::HttpRequest>(std::move(q));
    const bool queued = workers.submit([this, shared, out, completion] {
      try {
        if (completion) {
          complete(*shared, *out);
        } else {
          forward_get(*shared, *out);
        }
      } catch (const std::exception& e) {
        if (!out->streaming()) out->reply(error_response(500, e.what()));
      }
      if (out->streaming()) out->end_stream();
    });
    if (!queued) out->reply(error_response(503, "the router is shutting down"));
  }

  api::HttpClientOptions client_options() const {
    api::HttpClientOptions c;
    c.connect_timeout = std::chrono::seconds(2);
    c.read_timeout = ms(options.timeout_seconds);
    return c;
  }

  static api::HttpRequest upstream(const api::HttpRequest& q) {
    api::HttpRequest up;
    up.method = q.method;
    up.target = q.path;
    if (const std::string_view auth = api::header_value(q.headers, "Authorization"); !auth.empty())
      up.headers.emplace_back("Authorization", std::string(auth));
    if (q.method == "POST") {
      up.headers.emplace_back("Content-Type", "application/json");
      up.body = q.body;
    }
    return up;
  }

  void forward_get(const api::HttpRequest& q, api::HttpResponder& out) {
    for (auto& b : decode) {
      const api::HttpClientResult res =
          api::http_fetch(b->host, b->port, upstream(q), client_options());
      if (!res.ok) continue;
      return out.reply(relayed(res));
    }
    out.reply(error_response(502, "no backend answers"));
  }

  // Runs the prompt on a prefill worker; false when none could (the decode worker computes it).
  bool run_prefill(const api::HttpRequest& q, const std::string& key) {
    std::vector<bool> tried(prefill.size(), false);
    for (size_t attempt = 0; attempt < prefill.size(); ++attempt) {
      const int i = pick_backend(prefill, key, options.affinity_slack, tried);
      if (i < 0) break;
      tried[static_cast<size_t>(i)] = true;
      Backend& b = *prefill[static_cast<size_t>(i)];
      InFlight f(b);
      const api::HttpClientResult res =
          api::http_fetch(b.host, b.port, upstream(q), client_options());
      if (res.ok && res.status == 200) return true;
      if (res.ok && res.status >= 400 && res.status < 500)
        return false;  // the decode side says why
      b.failures++;
    }
    prefill_fallbacks++;
    return false;
  }

  void complete(const api::HttpRequest& q, api::HttpResponder& out) {
    const std::string key = affinity_key(q.body, options.affinity_chars);
    if (!prefill.empty()) run_prefill(q, key);
    std::vector<bool> tried(decode.size(), false);
    for (size_t attempt = 0; attempt < decode.size(); ++attempt) {
      const int i = pick_backend(decode, key, options.affinity_slack, tried);
      if (i < 0) break;
      tried[static_cast<size_t>(i)] = true;
      Backend& b = *decode[static_cast<size_t>(i)];
      InFlight f(b);
      // A streamed answer (200 with text/event-stream) is relayed event by event as it comes;
      // anything else whole. Until the backend's head arrives nothing has been sent, so a
      // backend that cannot be reached or fails first is passed over for the next.
      bool relaying = false, client_gone = false;
      std::string whole;
      api::HttpClientResult res = api::http_fetch(
          b.host, b.port, upstream(q), client_options(),
          [&](const api::HttpClientResult& head) {
            const std::string_view type = api::header_value(head.headers, "Content-Type");
            if (head.status == 200 && type.rfind("text/event-stream", 0) == 0) {
              api::HttpResponse start;
              start.content_type = std::string(type);
              start.headers.emplace_back("Cache-Control", "no-cache");
              out.start_stream(start);
              relaying = true;
            }
            return true;
          },
          [&](std::string_view data) {
            if (!relaying) {
              whole.append(data);
              return true;
            }
            if (stopped.load() || !out.write_chunk(std::string(data))) {
              client_gone = true;
              return false;
            }
            return true;
          });
      if (relaying) {
        if (!res.ok && !client_gone) {
          b.failures++;
          failed++;
          out.write_chunk(
              "data: " +
              json{{"error",
                    {{"message", "the decode worker failed mid-stream"}, {"type", "router_error"}}}}
                  .dump() +
              "\n\n");
        }
        return;  // the worker ends the stream
      }
      if (!res.ok || res.status >= 500) {
        b.failures++;
        continue;
      }
      res.body = std::move(whole);
      return out.reply(relayed(res));
    }
    failed++;
    out.reply(error_response(502, "no decode worker answers"));
  }

  std::string metrics() const {
    std::string out;
    auto pool = [&](const char* role, const std::vector<std::unique_ptr<Backend>>& p) {
      for (const auto& b : p) {
        const std::string l = "{role=\"" + std::string(role) + "\",backend=\"" + b->url + "\"}";
        out += "packinfer_router_in_flight" + l + " " + std::to_string(b->in_flight.load()) + "\n";
        out +=
            "packinfer_router_requests_total" + l + " " + std::to_string(b->requests.load()) + "\n";
        out +=
            "packinfer_router_failures_total" + l + " " + std::to_string(b->failures.load()) + "\n";
      }
    };
    out += "# TYPE packinfer_router_in_flight gauge\n";
    out += "# TYPE packinfer_router_requests_total counter\n";
    out += "# TYPE packinfer_router_failures_total counter\n";
    pool("prefill", prefill);
    pool(prefill.empty() ? "replica" : "decode", decode);
    out += "# TYPE packinfer_router_prefill_fallbacks_total counter\n";
    out += "packinfer_router_prefill_fallbacks_total " + std::to_string(prefill_fallbacks.load()) +
           "\n";
    out += "# TYPE packinfer_router_failed_total counter\n";
    out += "packinfer_router_failed_total " + std::to_string(failed.load()) + "\n";
    return out;
  }
};

Router::Router(const RouterOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Router::~Router() { stop(); }

int Router::bind() {
  Impl& m = *impl_;
  try {
    return m.transport.bind();
  } catch (const Error& e) {
    throw Error("router cannot listen on " + m.options.host + ":" + std::to_string(m.options.port) +
                ": " + e.what());
  }
}

void Router::run() { impl_->transport.run(); }

void Router::stop() {
  Impl& m = *impl_;
  if (m.stopped.exchange(true)) return;
  m.transport.stop();     // no new connections; idle ones close
  m.workers.stop();       // every request has been answered (streams relayed so far end)
  m.transport.release();  // run() returns once the last reply is written
}

}  // namespace packinfer::router
