#pragma once
// packinfer's own HTTP request and response, and the handle a handler answers through. The
// handlers (completions, tokenize, models, metrics, health) see only these; the transport that
// reads and writes them on the sockets (http_transport.h) is Boost.Beast on Asio.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace packinfer::api {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// The value of header `name` (compared case-insensitively), or "" when absent.
std::string_view header_value(const HttpHeaders& headers, std::string_view name);

// Every member has an initializer, so that a request or a response can be written with designated
// initializers naming only what it sets ({.method = "GET", .target = "/health"}).
struct HttpRequest {
  std::string method{};  // "GET", "POST", ...
  std::string target{};  // as sent: path and query
  std::string path{};    // target without the query
  std::string query{};   // after '?', undecoded
  HttpHeaders headers{};
  std::string body{};
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  HttpHeaders headers{};  // besides Content-Type, Content-Length and Connection
  std::string body{};
};

// One request's way back to its client. Thread-safe: a handler may answer from any thread, and
// a stream may be fed chunk by chunk from one thread while the I/O thread writes.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  // True once the client closed or reset its connection: nobody will read the reply.
  virtual bool client_gone() const = 0;
  // The whole reply (once; not after start_stream).
  virtual void reply(HttpResponse response) = 0;
  // Starts a chunked reply with `head`'s status, content type and headers (its body is unused).
  virtual void start_stream(const HttpResponse& head) = 0;
  // Queues a chunk of the stream. False once the client is gone or has let too much pile up
  // unread: stop producing.
  virtual bool write_chunk(std::string data) = 0;
  // Ends the stream (the last chunk).
  virtual void end_stream() = 0;
  virtual bool streaming() const = 0;
};

}  // namespace packinfer::api
