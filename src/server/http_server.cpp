#include "server/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>

#include "http/fd_limit.h"
#include "http/http_transport.h"
#include "http/worker_pool.h"
#include "packinfer/error.h"
#include "server/completion_handler.h"
#include "server/http_reply.h"
#include "server/metrics.h"
#include "server/tokenize_handler.h"

namespace packinfer::api {
namespace {

std::vector<std::string> model_names(const Engine& engine, const ServerOptions& o) {
  const ModelInfo& info = engine.model_info();
  std::vector<std::string> names = accepted_model_names(info.path, info.name);
  if (!o.served_model_name.empty()) names.insert(names.begin(), o.served_model_name);
  return names;
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.001, seconds) * 1000));
}

// Descriptors kept beside the connections: model files, logs, refused connections lingering.
constexpr int64_t kReservedFds = 320;

int64_t connection_bound(int64_t wanted) {
  const int64_t fit = fit_connections_to_fd_limit(wanted, kReservedFds);
  if (fit < wanted) {
    std::fprintf(stderr,
                 "packinfer: warning: --max-connections %lld lowered to %lld: the open-file limit "
                 "(ulimit -n) leaves no room for more\n",
                 static_cast<long long>(wanted), static_cast<long long>(fit));
  }
  return fit;
}

using Handler = std::function<void(const HttpRequest&, HttpResponse&, HttpResponder&)>;

struct Route {
  std::string method, path;
  bool on_pool;  // may take long: run on a worker, never on the I/O thread
  Handler handler;
};

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  ServingEngine& serving;
  ServerOptions options;
  std::vector<std::string> names;
  std::shared_ptr<ServerMetrics> metrics = std::make_shared<ServerMetrics>();
  CompletionHandler completions;
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::vector<Route> routes;
  WorkerPool pool;
  HttpTransport transport;
  std::atomic<bool> stopped{false};

  Impl(Engine& e, ServingEngine& s, const ServerOptions& o)
      : engine(e),
        serving(s),
        options(o),
        names(model_names(e, o)),
        completions(e, s, metrics,
                    {.model_names = names,
                     .served_name = names.front(),
                     .max_n = o.max_n,
                     .prefill_only = o.role == "prefill"}),
        pool(static_cast<size_t>(std::max(1, o.http_workers))),
        transport({.host = o.host,
                   .port = o.port,
                   .max_connections = connection_bound(std::max<int64_t>(1, o.max_connections)),
                   .max_body_bytes = o.max_body_bytes,
                   .header_timeout = ms(o.header_timeout_s),
                   .body_timeout = ms(o.body_timeout_s),
                   .idle_timeout = ms(o.idle_timeout_s)},
                  {.dispatch =
                       [this](HttpRequest req, std::shared_ptr<HttpResponder> out) {
                         dispatch(std::move(req), out);
                       },
                   .error =
                       [](int status, const std::string& message, const std::string& code) {
                         HttpResponse res;
                         send_error(res, {message, code, "", status});
                         return res;
                       },
                   .on_response = [this](int status) { metrics->on_http_response(status); }}) {
    add_routes();
  }

  bool authorized(const HttpRequest& req) const {
    return options.api_key.empty() || req.path == "/health" ||
           header_value(req.headers, "Authorization") == "Bearer " + options.api_key;
  }

  void add_routes() {
    routes.push_back({"POST", "/v1/completions", true,
                      [this](const HttpRequest& req, HttpResponse& res, HttpResponder& out) {
                        completions.handle(Endpoint::Completions, req, res, out);
                      }});
    routes.push_back({"POST", "/v1/chat/completions", true,
                      [this](const HttpRequest& req, HttpResponse& res, HttpResponder& out) {
                        completions.handle(Endpoint::ChatCompletions, req, res, out);
                      }});
    routes.push_back({"POST", "/tokenize", true,
                      [this](const HttpRequest& req, HttpResponse& res, HttpResponder&) {
                        handle_tokenize(engine, req, res);
                      }});
    routes.push_back({"POST", "/detokenize", true,
                      [this](const HttpRequest& req, HttpResponse& res, HttpResponder&) {
                        handle_detokenize(engine, req, res);
                      }});
    // The cheap routes answer on the I/O thread: /health stays quick however busy workers are.
    routes.push_back(
        {"GET", "/v1/models", false, [this](const HttpRequest&, HttpResponse& res, HttpResponder&) {
           ojson model = {{"id", names.front()},
                          {"object", "model"},
                          {"created", created},
                          {"owned_by", "packinfer"},
                          {"max_model_len", engine.model_info().n_ctx}};
           send_json(res, {{"object", "list"}, {"data", ojson::array({model})}});
         }});
    routes.push_back(
        {"GET", "/health", false, [](const HttpRequest&, HttpResponse& res, HttpResponder&) {
           send_json(res, {{"status", "ok"}});
         }});
    routes.push_back(
        {"GET", "/metrics", false, [this](const HttpRequest&, HttpResponse& res, HttpResponder&) {
           const double now =
               std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
                   .count();
           res.content_type = "text/plain; version=0.0.4";
           res.body = metrics->render(serving.stats(), now);
         }});
  }

  // On an I/O thread: answers at once, or hands the request to a worker.
  void dispatch(HttpRequest req, const std::shared_ptr<HttpResponder>& out) {
    HttpResponse res;
    if (!authorized(req)) {
      send_error(res, {"invalid or missing API key (send 'Authorization: Bearer <key>')",
                       "invalid_api_key", "", 401});
      return out->reply(std::move(res));
    }
    const Route* route = nullptr;
    bool known_path = false;
    for (const Route& r : routes) {
      if (r.path != req.path) continue;
      known_path = true;
      if (r.method == req.method) route = &r;
    }
    if (route == nullptr) {
      if (known_path)
        send_error(res, {"method " + req.method + " is not allowed on " + req.path,
                         "method_not_allowed", "", 405});
      else
        send_error(res, {"unknown route " + req.method + " " + req.path, "unknown_url", "", 404});
      return out->reply(std::move(res));
    }
    if (!route->on_pool) return run(*route, req, *out);
    auto shared_req = std::make_shared<HttpRequest>(std::move(req));
    const bool queued =
        pool.submit([this, route, shared_req, out] { run(*route, *shared_req, *out); });
    if (!queued) {
      send_error(res, {"the server is shutting down", "server_shutting_down", "", 503});
      out->reply(std::move(res));
    }
  }

  static void run(const Route& route, const HttpRequest& req, HttpResponder& out) {
    HttpResponse res;
    try {
      route.handler(req, res, out);
    } catch (const std::exception& e) {
      send_error(res, {e.what(), "server_error", "", 500});
    } catch (...) {
      send_error(res, {"internal error", "server_error", "", 500});
    }
    if (out.streaming())
      out.end_stream();
    else
      out.reply(std::move(res));
  }
};

HttpServer::HttpServer(Engine& engine, ServingEngine& serving, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(engine, serving, options)) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() { return impl_->transport.bind(); }

void HttpServer::run() { impl_->transport.run(); }

void HttpServer::stop() {
  Impl& m = *impl_;
  if (m.stopped.exchange(true)) return;
  m.transport.stop();          // no new connections; idle ones close
  m.completions.cancel_all();  // handlers waiting on the engine return
  m.pool.stop();               // every handler has answered
  m.transport.release();       // run() returns once the last reply is written
}

int64_t HttpServer::open_connections() const { return impl_->transport.open_connections(); }

const std::string& HttpServer::model_name() const { return impl_->names.front(); }

}  // namespace packinfer::api
