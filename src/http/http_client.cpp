#include "http/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <limits>

namespace packinfer::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Runs one asynchronous operation to its end on the client's own io_context: the stream's
// deadlines (expires_after) apply only to asynchronous operations.
template <class Initiate>
beast::error_code run_one(asio::io_context& ioc, Initiate&& initiate) {
  beast::error_code result;
  initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

std::string failure(const char* step, const beast::error_code& ec) {
  return std::string(step) + ": " + (ec == beast::error::timeout ? "timed out" : ec.message());
}

}  // namespace

HttpClientResult http_fetch(const std::string& host, int port, const HttpRequest& request,
                            const HttpClientOptions& options,
                            const std::function<bool(const HttpClientResult&)>& on_head,
                            const std::function<bool(std::string_view)>& on_body) {
  HttpClientResult r;
  const http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    r.error = "unknown HTTP method '" + request.method + "'";
    return r;
  }
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    r.error = failure("resolve", ec);
    return r;
  }
  stream.expires_after(options.connect_timeout);
  ec = run_one(ioc, [&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
  if (ec) {
    r.error = failure("connect", ec);
    return r;
  }

  http::request<http::string_body> req{verb, request.target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  req.prepare_payload();
  stream.expires_after(options.read_timeout);
  ec = run_one(ioc, [&](auto handler) { http::async_write(stream, req, std::move(handler)); });
  if (ec) {
    r.error = failure("write", ec);
    return r;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  stream.expires_after(options.read_timeout);
  ec = run_one(ioc, [&](auto handler) {
    http::async_read_header(stream, buffer, parser, std::move(handler));
  });
  if (ec) {
    r.error = failure("read", ec);
    return r;
  }
  r.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (on_head && !on_head(r)) {
    r.stopped = true;
    return r;
  }
  char piece[16 << 10];
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    stream.expires_after(options.read_timeout);
    ec = run_one(ioc, [&](auto handler) {
      http::async_read_some(stream, buffer, parser, std::move(handler));
    });
    if (ec == http::error::need_buffer) ec = {};  // the piece is full: hand it on
    const size_t n = sizeof piece - parser.get().body().size;
    if (n > 0) {
      if (!on_body) {
        r.body.append(piece, n);
      } else if (!on_body(std::string_view(piece, n))) {
        r.stopped = true;
        return r;
      }
    }
    if (ec) {
      r.error = failure("read", ec);
      return r;
    }
  }
  r.ok = true;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return r;
}

}  // namespace packinfer::api
