#pragma once
// A `packinfer serve` inside the test process: stories260K, one thread, the given server options
// on a free loopback port, serving on its own thread until destroyed.
#include <cstdint>
#include <string>
#include <thread>

#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "server/http_server.h"

namespace packinfer::test {

class InProcessServer {
 public:
  explicit InProcessServer(api::ServerOptions options = {}, int64_t n_ctx = 0);
  ~InProcessServer();
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  int port() const { return port_; }
  api::HttpServer& http() { return http_; }
  ServingEngine& serving() { return serving_; }

 private:
  Engine engine_;
  ServingEngine serving_;
  api::HttpServer http_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace packinfer::test
