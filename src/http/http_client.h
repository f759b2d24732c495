#pragma once
// A blocking HTTP/1.1 client on Boost.Beast, for the load generator and the router: one request
// per connection, the response body delivered as it arrives (server-sent events) or whole.
//
//   HttpClientResult r = http_fetch("127.0.0.1", 8080, {.method = "GET", .target = "/health"});
//   if (r.ok && r.status == 200) ...
//
// Beast was already the server's transport; with it the library needs no second HTTP stack (the
// cpp-httplib client it replaces linked OpenSSL, zlib and brotli into every process: 3.9 MiB of
// resident memory for code no command used).
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "http/http_message.h"

namespace packinfer::api {

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  // The most the server may keep us waiting for the next bytes (not the whole exchange).
  std::chrono::milliseconds read_timeout{600'000};
};

struct HttpClientResult {
  bool ok = false;       // a whole response arrived (and no callback stopped it)
  int status = 0;        // 0 when no response head arrived
  HttpHeaders headers;   // of the response
  std::string body;      // the body, unless on_body took it
  std::string error;     // why not ok: "connect: Connection refused", "read: timed out", ...
  bool stopped = false;  // a callback returned false
};

// Sends `request` (method, target, headers and body; Host and Content-Length are added) to
// host:port. on_head sees the status and headers first; on_body then each piece of the body as it
// arrives (when absent, result.body collects it). Either returning false ends the exchange
// (result.stopped). Never throws for network failures: they are in result.error.
HttpClientResult http_fetch(const std::string& host, int port, const HttpRequest& request,
                            const HttpClientOptions& options = {},
                            const std::function<bool(const HttpClientResult&)>& on_head = {},
                            const std::function<bool(std::string_view)>& on_body = {});

}  // namespace packinfer::api
