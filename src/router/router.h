#pragma once
// `packinfer router`: one OpenAI-compatible front for several packinfer servers that share a KV
// store (--kv-store).
//
// Co-located replicas (--replica URL...): each completion goes to one replica. Disaggregated
// (--prefill URL... --decode URL...): the request first goes to a prefill worker (`serve --role
// prefill`), which computes the prompt's KV into the store and answers after one token; then the
// original request goes to a decode worker, which loads that KV and generates; its answer,
// streamed or not, is passed back unchanged. A prefill worker that fails is retried on another,
// and when none answers the decode worker computes the prompt itself: no request fails because
// of a prefill worker.
//
// Routing: by prefix affinity, then load. The first `affinity_chars` characters of the prompt
// (or of the chat messages) pick a backend by rendezvous hashing, so requests sharing a prefix
// go where its KV most likely is (also in RAM); unless that backend has more than
// `affinity_slack` requests in flight beyond the least busy one, which then gets it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace packinfer::router {

struct RouterOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                                     // 0: any free port (bind() returns it)
  std::vector<std::string> prefill, decode, replicas;  // http://HOST:PORT
  int32_t max_connections = 64;
  int32_t affinity_chars = 256;
  int32_t affinity_slack = 4;
  double timeout_seconds = 600;  // of one backend request
};

struct Backend {
  std::string url, host;
  int port = 0;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> requests{0}, failures{0};
};

// "http://HOST:PORT" -> host and port. Throws packinfer::InvalidArgument.
void parse_backend_url(const std::string& url, std::string& host, int& port);

// The backend a request with this affinity key goes to (see above); -1 for an empty pool.
// `skip` excludes backends (already tried).
int pick_backend(const std::vector<std::unique_ptr<Backend>>& pool, const std::string& key,
                 int32_t slack, const std::vector<bool>& skip = {});

class Router {
 public:
  explicit Router(const RouterOptions& options);  // throws InvalidArgument for bad options
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  int bind();   // returns the port
  void run();   // serves until stop()
  void stop();  // thread-safe

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace packinfer::router
