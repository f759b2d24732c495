#pragma once
// HTTP/1.1 on Boost.Beast and Asio: one io_context, run by `io_threads` threads, accepts, reads
// and writes every connection asynchronously, so a connection costs a socket and a small buffer
// until a whole request has arrived. Then `dispatch` is called on an I/O thread; it must answer
// quickly or hand the work to other threads, and answers through the HttpResponder.
//
// Limits: headers must arrive within header_timeout (from the connection's first byte, or from
// accept), the body within body_timeout, and a kept-alive connection may idle idle_timeout
// between requests; past them the connection is closed. At most max_connections are open: one
// more is accepted, answered 503 and closed. A request whose client hangs up while it is being
// handled shows as HttpResponder::client_gone().
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/http_message.h"

namespace packinfer::api {

struct TransportOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  int64_t max_connections = 4096;
  int64_t max_body_bytes = 4 << 20;
  std::chrono::milliseconds header_timeout{10'000}, body_timeout{30'000}, idle_timeout{60'000};
  // A reply the client does not read within this is abandoned (the connection closed).
  std::chrono::milliseconds write_timeout{60'000};
  int io_threads = 1;
};

struct TransportHooks {
  // A whole request arrived (on an I/O thread).
  std::function<void(HttpRequest, std::shared_ptr<HttpResponder>)> dispatch;
  // The body of an error the transport answers itself (400, 413, 431, 503).
  std::function<HttpResponse(int status, const std::string& message, const std::string& code)>
      error;
  // A response head went out (for the metrics).
  std::function<void(int status)> on_response;
};

class HttpTransport {
 public:
  HttpTransport(TransportOptions options, TransportHooks hooks);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Listens; returns the port. Throws packinfer::Error.
  int bind();
  // Runs the I/O threads until stop() and every connection closed.
  void run();
  // Stops accepting and closes the connections that wait for a request; the others close once
  // their reply is written (or write_timeout passed). Thread-safe, idempotent.
  void stop();
  // After stop() and once no handler will answer any more: run() returns as soon as the last
  // connection closed.
  void release();
  int64_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace packinfer::api
