#pragma once
// The OpenAI-compatible HTTP server (`packinfer serve`): routes, API key, body-size and
// connection limits over the Beast transport (http_transport.h). The engine work is done by a
// ServingEngine the caller owns.
//
//   packinfer::api::HttpServer server(engine, serving, {.port = 0});
//   int port = server.bind();   // the real port
//   server.run();               // until stop() (from any thread)
#include <cstdint>
#include <memory>
#include <string>

#include "packinfer/engine.h"
#include "packinfer/serving.h"

namespace packinfer::api {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  int port = 8080;                 // 0: any free port (bind() returns it)
  std::string api_key;             // non-empty: every route but /health needs "Bearer <key>"
  int64_t max_body_bytes = 4 << 20;
  // Open connections; one more is answered 503 and closed. Lowered (with a warning) to what the
  // open-file limit allows.
  int64_t max_connections = 4096;
  // Threads running handlers (each request in a handler holds one; idle connections none).
  int32_t http_workers = 128;
  double header_timeout_s = 10;   // a request's headers must arrive within this
  double body_timeout_s = 30;     // and its body within this after them
  double idle_timeout_s = 60;     // a kept-alive connection may wait this long for its next request
  std::string served_model_name;  // empty: the model file's stem
  int32_t max_n = 16;             // largest "n" (choices per request)
  // Disaggregated serving (--role): "prefill" computes a prompt's KV into the shared store
  // (one token generated, answered once its blocks are written) for a decode worker to load;
  // "decode" and "both" (the default) serve completions as usual.
  std::string role = "both";
};

class HttpServer {
 public:
  // Both must outlive the server.
  HttpServer(Engine& engine, ServingEngine& serving, const ServerOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port. Throws packinfer::Error.
  int bind();
  // Connections open now (for tests and the metrics).
  int64_t open_connections() const;
  // Serves until stop(). Returns once every connection has been closed.
  void run();
  // Thread-safe: cancels requests in flight and makes run() return.
  void stop();
  // The name responses report as "model" by default.
  const std::string& model_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace packinfer::api
