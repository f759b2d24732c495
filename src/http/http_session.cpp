#include "http/http_session.h"

#include <strings.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdio>

namespace packinfer::api {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

constexpr size_t kHeaderLimit = 32 << 10;
constexpr size_t kReadChunk = 1024;
// A stream whose client leaves this much unread is dropped (it is not reading).
constexpr int64_t kMaxQueued = 8 << 20;
// After a reply that closes the connection, what the client still sends is read and dropped
// for this long, so closing with unread bytes does not reset the connection (and lose the
// reply) before the client read it.
constexpr auto kLinger = std::chrono::milliseconds(1000);
// Refusals (503, too many connections) lingering at once; past this a refused connection is
// closed without a reply rather than hold more descriptors.
constexpr int64_t kMaxRefusing = 256;

std::string reason(int status) {
  if (status == 499) return "Client Closed Request";
  const auto s = http::int_to_status(static_cast<unsigned>(status));
  if (s == http::status::unknown) return "Status";
  return std::string(http::obsolete_reason(s));
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, std::shared_ptr<SessionShared> shared)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {
  shared_->open++;
  error_code ec;
  socket_.set_option(net::ip::tcp::no_delay(true), ec);  // SSE chunks go out at once
}

HttpSession::~HttpSession() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->sessions.erase(id_);
  }
  if (counted_refusal_) shared_->refusing--;
  shared_->open--;
}

void HttpSession::start() {
  {
    std::lock_guard lock(shared_->mu);
    id_ = ++shared_->next_id;
    shared_->sessions[id_] = weak_from_this();
  }
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    // The first request's header deadline counts from accept: a client that connects and
    // sends nothing is closed after header_timeout.
    self->arm(self->shared_->options.header_timeout);
    self->read_header();
  });
}

void HttpSession::refuse() {
  if (++shared_->refusing > kMaxRefusing) {
    shared_->refusing--;
    return;  // the destructor closes the socket
  }
  counted_refusal_ = true;
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    self->keep_alive_ = false;
    self->phase_ = Phase::Handling;
    HttpResponse r = self->shared_->hooks.error(
        503, "the server has too many open connections; retry later", "too_many_connections");
    r.headers.emplace_back("Retry-After", "1");
    self->reply(std::move(r));
  });
}

void HttpSession::shutdown() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    self->keep_alive_ = false;
    if (self->phase_ != Phase::Handling) self->close();  // lingering ones too
  });
}

void HttpSession::arm(std::chrono::milliseconds after) {
  timer_.expires_after(after);  // cancels the previous deadline
  timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->close();  // the deadline passed: pending reads and writes fail
  });
}

// --- reading -------------------------------------------------------------------------------

void HttpSession::read_request() {
  phase_ = Phase::Reading;
  if (shared_->stopping) return close();
  if (buffer_.size() > 0) {  // pipelined: the next request has begun
    arm(shared_->options.header_timeout);
    return read_header();
  }
  // A kept-alive connection may idle until its next request's first byte; the header deadline
  // starts then.
  phase_ = Phase::Idle;
  arm(shared_->options.idle_timeout);
  socket_.async_read_some(buffer_.prepare(kReadChunk),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            if (ec) return self->close();
                            self->buffer_.commit(n);
                            self->phase_ = Phase::Reading;
                            self->arm(self->shared_->options.header_timeout);
                            self->read_header();
                          });
}

void HttpSession::read_header() {
  phase_ = Phase::Reading;
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(static_cast<uint64_t>(shared_->options.max_body_bytes));
  http::async_read_header(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
}

void HttpSession::on_header(error_code ec) {
  if (ec) return fail_request(ec);
  auto& req = parser_->get();
  const auto expect = req[http::field::expect];
  if (expect.size() == 12 && strncasecmp(expect.data(), "100-continue", 12) == 0) {
    // The client waits for this before sending the body (curl does for large bodies).
    // Written beside the reply queue (whose writes would replace the body's deadline with a
    // write deadline); a reply queued meanwhile (an error) waits for it.
    auto line = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
    continue_writing_ = true;
    net::async_write(socket_, net::buffer(*line),
                     [self = shared_from_this(), line](error_code, size_t) {
                       self->continue_writing_ = false;
                       if (!self->writing_ && !self->out_.empty()) self->write_next();
                     });
  }
  arm(shared_->options.body_timeout);
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](error_code ec, size_t) { self->on_body(ec); });
}

void HttpSession::on_body(error_code ec) {
  if (ec) return fail_request(ec);
  timer_.cancel();
  handle_request();
}

void HttpSession::fail_request(error_code ec) {
  if (closed_) return;
  int status = 0;
  std::string message, code;
  if (ec == http::error::body_limit) {
    status = 413, message = "the request body is too large", code = "request_too_large";
  } else if (ec == http::error::header_limit) {
    status = 431, message = "the request headers are too large",
    code = "request_header_fields_too_large";
  } else if (ec.category() == error_code(http::error::end_of_stream).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    status = 400, message = "malformed HTTP request: " + ec.message(), code = "bad_request";
  }
  if (status == 0) return close();  // the client went away, or a deadline passed
  keep_alive_ = false;
  phase_ = Phase::Handling;
  reply(shared_->hooks.error(status, message, code));
}

void HttpSession::handle_request() {
  auto& r = parser_->get();
  HttpRequest req;
  req.method = std::string(r.method_string());
  req.target = std::string(r.target());
  const size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  for (const auto& field : r) req.headers.emplace_back(field.name_string(), field.value());
  req.body = std::move(r.body());
  keep_alive_ = keep_alive_ && r.keep_alive();
  parser_.reset();
  served_++;
  phase_ = Phase::Handling;
  reply_done_ = false;
  streaming_ = false;
  // With the next request already here (pipelined), the connection is not watched: that read
  // would hold it while the reply goes out.
  if (buffer_.size() == 0) watch();
  shared_->hooks.dispatch(std::move(req), shared_from_this());
}

// While the request is handled, a pending read tells when the client hangs up. Bytes it
// pipelines end the watch and are kept for the next request.
void HttpSession::watch() {
  if (watching_ || closed_) return;
  watching_ = true;
  socket_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](error_code ec, size_t n) { self->on_watch(ec, n); });
}

void HttpSession::on_watch(error_code ec, size_t n) {
  watching_ = false;
  if (ec) {
    gone_ = true;
    // While handling, the reply (when it comes) still goes out if the client only half-closed;
    // a reset connection fails that write.
    if (phase_ != Phase::Handling) close();
    return;
  }
  buffer_.commit(n);
  if (phase_ == Phase::Closing) {  // lingering: drop what still arrives
    buffer_.consume(buffer_.size());
    return watch();
  }
  if (phase_ == Phase::Idle) {  // the reply went out; this is the next request's beginning
    arm(shared_->options.header_timeout);
    return read_header();
  }
  // Handling: the client pipelined its next request; it is read once the reply went out.
}

// --- writing -------------------------------------------------------------------------------

std::string HttpSession::head(int status, const HttpResponse& res,
                              const std::string& length_header) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  h += "Content-Type: " + res.content_type + "\r\n";
  for (const auto& [k, v] : res.headers) h += k + ": " + v + "\r\n";
  h += length_header + "\r\n";
  h += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return h;
}

void HttpSession::reply(HttpResponse res) {
  net::post(socket_.get_executor(), [self = shared_from_this(), res = std::move(res)] {
    if (self->shared_->hooks.on_response) self->shared_->hooks.on_response(res.status);
    if (self->closed_) return;
    if (self->gone_ || self->shared_->stopping) self->keep_alive_ = false;
    std::string bytes =
        self->head(res.status, res, "Content-Length: " + std::to_string(res.body.size()));
    bytes += res.body;
    self->reply_done_ = true;
    self->enqueue(std::move(bytes));
  });
}

void HttpSession::start_stream(const HttpResponse& head_of) {
  streaming_ = true;
  net::post(socket_.get_executor(), [self = shared_from_this(), h = head_of] {
    if (self->shared_->hooks.on_response) self->shared_->hooks.on_response(h.status);
    if (self->closed_) return;
    if (self->gone_) self->keep_alive_ = false;
    self->enqueue(self->head(h.status, h, "Transfer-Encoding: chunked"));
  });
}

bool HttpSession::write_chunk(std::string data) {
  if (gone_ || queued_bytes_ > kMaxQueued) return false;
  if (data.empty()) return true;  // an empty chunk would end the stream
  char size[24];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string framed = size + std::move(data) + "\r\n";
  queued_bytes_ += static_cast<int64_t>(framed.size());
  net::post(socket_.get_executor(), [self = shared_from_this(), framed = std::move(framed)] {
    if (self->closed_) return;
    self->enqueue(framed);
  });
  return true;
}

void HttpSession::end_stream() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;
    if (self->gone_ || self->shared_->stopping) self->keep_alive_ = false;
    self->reply_done_ = true;
    self->enqueue("0\r\n\r\n");
  });
}

void HttpSession::enqueue(std::string bytes) {
  out_.push_back(std::move(bytes));
  if (!writing_) write_next();
}

void HttpSession::write_next() {
  if (closed_ || continue_writing_) return;
  if (out_.empty()) {
    writing_ = false;
    timer_.cancel();
    if (reply_done_) after_reply();
    return;
  }
  writing_ = true;
  arm(shared_->options.write_timeout);  // a client that does not read is dropped
  net::async_write(socket_, net::buffer(out_.front()),
                   [self = shared_from_this()](error_code ec, size_t) {
                     self->queued_bytes_ -= static_cast<int64_t>(self->out_.front().size());
                     self->out_.pop_front();
                     if (ec) {
                       self->gone_ = true;
                       return self->close();
                     }
                     self->write_next();
                   });
}

void HttpSession::after_reply() {
  reply_done_ = false;
  if (shared_->stopping) return close();  // nobody waits for the lingering client
  if (!keep_alive_ || gone_) return linger();
  if (watching_) {  // the pending read now waits for the next request
    phase_ = Phase::Idle;
    arm(shared_->options.idle_timeout);
    return;
  }
  read_request();
}

void HttpSession::linger() {
  phase_ = Phase::Closing;
  error_code ec;
  socket_.shutdown(net::ip::tcp::socket::shutdown_send, ec);
  arm(std::chrono::duration_cast<std::chrono::milliseconds>(kLinger));
  if (watching_) return;  // the pending read ends at the client's EOF (on_watch closes)
  struct Drain {
    std::shared_ptr<HttpSession> self;
    void operator()(error_code ec, size_t) {
      if (ec) return self->close();
      self->buffer_.consume(self->buffer_.size());
      self->socket_.async_read_some(self->buffer_.prepare(kReadChunk), std::move(*this));
    }
  };
  Drain{shared_from_this()}({}, 0);
}

void HttpSession::close() {
  if (closed_) return;
  closed_ = true;
  gone_ = true;
  phase_ = Phase::Closing;
  timer_.cancel();
  error_code ec;
  socket_.shutdown(net::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace packinfer::api
