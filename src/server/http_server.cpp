#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>

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

// Body of an error httplib produced itself (no route, body too large, ...).
RequestError routing_error(const httplib::Request& req, int status) {
  switch (status) {
    case 404:
      return {"unknown route " + req.method + " " + req.path, "unknown_url", "", 404};
    case 405:
      return {"method " + req.method + " is not allowed on " + req.path, "method_not_allowed", "",
              405};
    case 413:
      return {"the request body is too large", "request_too_large", "", 413};
    default:
      return {"HTTP error " + std::to_string(status), "", "", status};
  }
}

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  ServingEngine& serving;
  ServerOptions options;
  std::vector<std::string> names;
  std::shared_ptr<ServerMetrics> metrics = std::make_shared<ServerMetrics>();
  CompletionHandler completions;
  httplib::Server svr;
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::atomic<bool> stopping{false}, running{false};
  int listen_fd = -1;

  Impl(Engine& e, ServingEngine& s, const ServerOptions& o)
      : engine(e),
        serving(s),
        options(o),
        names(model_names(e, o)),
        completions(e, s, metrics,
                    {.model_names = names,
                     .served_name = names.front(),
                     .max_n = o.max_n,
                     .prefill_only = o.role == "prefill"}) {
    routes();
    limits();
  }

  bool authorized(const httplib::Request& req) const {
    return options.api_key.empty() || req.path == "/health" ||
           req.get_header_value("Authorization") == "Bearer " + options.api_key;
  }

  void routes() {
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completions.handle(Endpoint::Completions, req, res);
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completions.handle(Endpoint::ChatCompletions, req, res);
    });
    svr.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
      handle_tokenize(engine, req, res);
    });
    svr.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
      handle_detokenize(engine, req, res);
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      ojson model = {{"id", names.front()},
                     {"object", "model"},
                     {"created", created},
                     {"owned_by", "packinfer"},
                     {"max_model_len", engine.model_info().n_ctx}};
      send_json(res, {{"object", "list"}, {"data", ojson::array({model})}});
    });
    svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"status", "ok"}});
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const double now =
          std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
              .count();
      res.set_content(metrics->render(serving.stats(), now), "text/plain; version=0.0.4");
    });
    // httplib answers an unrouted method with 404; the known paths say 405 instead.
    auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
      send_error(res, routing_error(req, 405));
    };
    for (const char* path :
         {"/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize"}) {
      svr.Get(path, not_allowed).Put(path, not_allowed).Delete(path, not_allowed);
      svr.Patch(path, not_allowed);
    }
    for (const char* path : {"/v1/models", "/health", "/metrics"}) {
      svr.Post(path, not_allowed).Put(path, not_allowed).Delete(path, not_allowed);
      svr.Patch(path, not_allowed);
    }
  }

  void limits() {
    // httplib listens with a backlog of 5: a burst of clients (32 requests sent at once) then
    // overflows the accept queue and some connections are dropped. Remember the socket so
    // bind() can raise the backlog; SO_REUSEADDR only (httplib's default also sets
    // SO_REUSEPORT, which would let a second server silently share our port).
    svr.set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_fd = sock;
    });
    svr.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
    const auto threads = static_cast<size_t>(std::max(1, options.max_connections));
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
      send_error(res, {"invalid or missing API key (send 'Authorization: Bearer <key>')",
                       "invalid_api_key", "", 401});
      return httplib::Server::HandlerResponse::Handled;
    });
    // Errors httplib raises itself (404, 413, ...) get an OpenAI error body too.
    svr.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          send_error(res, routing_error(req, res.status));
          return httplib::Server::HandlerResponse::Handled;
        }));
    svr.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          send_error(res, {what, "server_error", "", 500});
        });
    svr.set_logger([this](const httplib::Request&, const httplib::Response& res) {
      metrics->on_http_response(res.status);
    });
  }
};

HttpServer::HttpServer(Engine& engine, ServingEngine& serving, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(engine, serving, options)) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  Impl& m = *impl_;
  int port = m.options.port;
  bool ok;
  if (port == 0) {
    port = m.svr.bind_to_any_port(m.options.host);
    ok = port > 0;
  } else {
    ok = m.svr.bind_to_port(m.options.host, port);
  }
  if (!ok) {
    throw Error("cannot listen on " + m.options.host + ":" + std::to_string(m.options.port) +
                " (address in use, or not an address of this machine)");
  }
  if (m.listen_fd >= 0) ::listen(m.listen_fd, SOMAXCONN);  // Linux updates the backlog
  m.completions.set_listen_port(port);
  return port;
}

void HttpServer::run() {
  impl_->running = true;
  if (!impl_->stopping) impl_->svr.listen_after_bind();
  impl_->running = false;
}

void HttpServer::stop() {
  Impl& m = *impl_;
  m.stopping = true;
  m.completions.cancel_all();
  // stop() is a no-op until listen has started; wait for that if run() is on its way.
  for (int i = 0; i < 2000 && m.running && !m.svr.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  m.svr.stop();
}

const std::string& HttpServer::model_name() const { return impl_->names.front(); }

}  // namespace packinfer::api
