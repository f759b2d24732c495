#include "router/router.h"

#include <httplib.h>
#include <xxhash.h>

#include <cstdio>
#include <nlohmann/json.hpp>

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

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"message", message}, {"type", "router_error"}}}}.dump(),
                  "application/json");
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
  httplib::Server server;
  int port = 0;
  std::atomic<int64_t> prefill_fallbacks{0}, failed{0};

  explicit Impl(const RouterOptions& o) : options(o) {
    const bool split = !o.prefill.empty() || !o.decode.empty();
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
    auto add = [](std::vector<std::unique_ptr<Backend>>& pool, const std::string& url) {
      auto b = std::make_unique<Backend>();
      b->url = url;
      parse_backend_url(url, b->host, b->port);
      pool.push_back(std::move(b));
    };
    for (const auto& u : o.prefill) add(prefill, u);
    for (const auto& u : split ? o.decode : o.replicas) add(decode, u);
    server.new_task_queue = [n = o.max_connections] {
      return new httplib::ThreadPool(static_cast<size_t>(n));
    };
    server.set_read_timeout(static_cast<time_t>(o.timeout_seconds));
    server.set_write_timeout(static_cast<time_t>(o.timeout_seconds));
    server.Post("/v1/completions",
                [this](const httplib::Request& q, httplib::Response& r) { complete(q, r); });
    server.Post("/v1/chat/completions",
                [this](const httplib::Request& q, httplib::Response& r) { complete(q, r); });
    server.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content("{\"status\":\"ok\"}", "application/json");
    });
    server.Get("/v1/models",
               [this](const httplib::Request& q, httplib::Response& r) { forward_get(q, r); });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(metrics(), "text/plain; version=0.0.4");
    });
  }

  std::unique_ptr<httplib::Client> client(const Backend& b) const {
    auto c = std::make_unique<httplib::Client>(b.host, b.port);
    c->set_connection_timeout(2);
    c->set_read_timeout(static_cast<time_t>(options.timeout_seconds));
    c->set_write_timeout(static_cast<time_t>(options.timeout_seconds));
    return c;
  }

  static httplib::Headers pass_headers(const httplib::Request& q) {
    httplib::Headers h;
    if (q.has_header("Authorization"))
      h.emplace("Authorization", q.get_header_value("Authorization"));
    return h;
  }

  void forward_get(const httplib::Request& q, httplib::Response& r) {
    for (auto& b : decode) {
      auto res = client(*b)->Get(q.path.c_str(), pass_headers(q));
      if (!res) continue;
      r.status = res->status;
      r.set_content(res->body, res->get_header_value("Content-Type").c_str());
      return;
    }
    send_error(r, 502, "no backend answers");
  }

  // Runs the prompt on a prefill worker; false when none could (the decode worker computes it).
  bool run_prefill(const httplib::Request& q, const std::string& key) {
    std::vector<bool> tried(prefill.size(), false);
    for (size_t attempt = 0; attempt < prefill.size(); ++attempt) {
      const int i = pick_backend(prefill, key, options.affinity_slack, tried);
      if (i < 0) break;
      tried[static_cast<size_t>(i)] = true;
      Backend& b = *prefill[static_cast<size_t>(i)];
      InFlight f(b);
      auto res = client(b)->Post(q.path.c_str(), pass_headers(q), q.body, "application/json");
      if (res && res->status == 200) return true;
      if (res && res->status >= 400 && res->status < 500) return false;  // the decode side says why
      b.failures++;
    }
    prefill_fallbacks++;
    return false;
  }

  void complete(const httplib::Request& q, httplib::Response& r) {
    const std::string key = affinity_key(q.body, options.affinity_chars);
    if (!prefill.empty()) run_prefill(q, key);
    const json j = json::parse(q.body, nullptr, false);
    const bool stream = j.is_object() && j.contains("stream") && j["stream"].is_boolean() &&
                        j["stream"].get<bool>();
    std::vector<bool> tried(decode.size(), false);
    for (size_t attempt = 0; attempt < decode.size(); ++attempt) {
      const int i = pick_backend(decode, key, options.affinity_slack, tried);
      if (i < 0) break;
      tried[static_cast<size_t>(i)] = true;
      Backend& b = *decode[static_cast<size_t>(i)];
      if (!stream) {
        InFlight f(b);
        auto res = client(b)->Post(q.path.c_str(), pass_headers(q), q.body, "application/json");
        if (!res || res->status >= 500) {
          b.failures++;
          continue;
        }
        r.status = res->status;
        r.set_content(res->body, res->get_header_value("Content-Type").c_str());
        return;
      }
      // Streamed: the backend's events are relayed as they come. Whether it answers is known
      // only once it starts, so a backend that cannot be reached is tried before committing.
      if (!client(b)->Get("/health")) {
        b.failures++;
        continue;
      }
      Backend* bp = &b;
      const httplib::Headers headers = pass_headers(q);
      const std::string path = q.path, body = q.body;
      r.set_header("Cache-Control", "no-cache");
      r.set_chunked_content_provider("text/event-stream", [this, bp, headers, path, body](
                                                              size_t, httplib::DataSink& sink) {
        InFlight f(*bp);
        httplib::Request up;
        up.method = "POST";
        up.path = path;
        up.headers = headers;
        up.set_header("Content-Type", "application/json");
        up.body = body;
        bool client_gone = false;
        up.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
          if (!sink.write(data, n)) {
            client_gone = true;
            return false;
          }
          return true;
        };
        httplib::Response res;
        httplib::Error err = httplib::Error::Success;
        const bool ok = client(*bp)->send(up, res, err);
        if (!ok && !client_gone) {
          bp->failures++;
          failed++;
          const std::string e =
              "data: " +
              json{{"error",
                    {{"message", "the decode worker failed mid-stream"}, {"type", "router_error"}}}}
                  .dump() +
              "\n\n";
          sink.write(e.data(), e.size());
        }
        if (!client_gone) sink.done();
        return !client_gone;
      });
      return;
    }
    failed++;
    send_error(r, 502, "no decode worker answers");
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
  if (m.options.port == 0) {
    m.port = m.server.bind_to_any_port(m.options.host.c_str());
  } else {
    m.port = m.server.bind_to_port(m.options.host.c_str(), m.options.port) ? m.options.port : -1;
  }
  if (m.port <= 0) {
    throw Error("router cannot listen on " + m.options.host + ":" + std::to_string(m.options.port));
  }
  return m.port;
}

void Router::run() { impl_->server.listen_after_bind(); }
void Router::stop() { impl_->server.stop(); }

}  // namespace packinfer::router
