#include "support/in_process_server.h"

#include "support/test_support.h"

namespace packinfer::test {
namespace {

api::ServerOptions on_free_port(api::ServerOptions o) {
  o.port = 0;
  return o;
}

}  // namespace

InProcessServer::InProcessServer(api::ServerOptions options, int64_t n_ctx)
    : engine_({.model_path = shared_dir() + "/models/stories260K/stories260K-f32.gguf",
               .n_threads = 1,
               .n_ctx = n_ctx}),
      serving_(engine_, {}),
      http_(engine_, serving_, on_free_port(options)) {
  port_ = http_.bind();
  thread_ = std::thread([this] { http_.run(); });
}

InProcessServer::~InProcessServer() {
  http_.stop();
  thread_.join();
}

}  // namespace packinfer::test
