#pragma once
// One connection of the HttpTransport: reads requests with Beast's parser under the header,
// body and idle deadlines, hands each whole request to the dispatcher, writes the reply (whole
// or chunk by chunk) and, while a request is being handled, keeps a read pending on the socket
// so a client that hangs up is noticed (client_gone()). Everything runs on the connection's
// strand; the HttpResponder methods may be called from any thread and post to it.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/http_message.h"
#include "http/http_transport.h"

namespace packinfer::api {

class HttpSession;

// What the connections share with the transport.
struct SessionShared {
  TransportOptions options;
  TransportHooks hooks;
  std::atomic<int64_t> open{0};      // sessions alive
  std::atomic<int64_t> refusing{0};  // of which answering 503 (too many connections)
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards the registry
  std::map<uint64_t, std::weak_ptr<HttpSession>> sessions;
  uint64_t next_id = 0;
};

class HttpSession final : public HttpResponder, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<SessionShared> shared);
  ~HttpSession() override;

  void start();   // serve requests
  void refuse();  // answer 503 (too many connections) and close
  // The server stops: close now when waiting for a request, else once the reply is written.
  void shutdown();

  bool client_gone() const override { return gone_; }
  void reply(HttpResponse response) override;
  void start_stream(const HttpResponse& head) override;
  bool write_chunk(std::string data) override;
  void end_stream() override;
  bool streaming() const override { return streaming_; }

 private:
  enum class Phase { Reading, Handling, Idle, Closing };
  void read_request();
  void read_header();
  void on_header(boost::system::error_code ec);
  void on_body(boost::system::error_code ec);
  void fail_request(boost::system::error_code ec);
  void handle_request();
  void watch();
  void on_watch(boost::system::error_code ec, size_t n);

  std::string head(int status, const HttpResponse& res, const std::string& length_header);
  void enqueue(std::string bytes);
  void write_next();
  void after_reply();
  void linger();
  void close();
  void arm(std::chrono::milliseconds after);

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;  // the deadline of the current read or write
  std::shared_ptr<SessionShared> shared_;
  uint64_t id_ = 0;
  bool counted_refusal_ = false;

  // Strand only.
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Phase phase_ = Phase::Reading;
  int64_t served_ = 0;
  bool keep_alive_ = true, watching_ = false, writing_ = false, reply_done_ = false;
  bool closed_ = false, continue_writing_ = false;  // continue: a "100 Continue" going out
  std::deque<std::string> out_;

  // Any thread.
  std::atomic<bool> gone_{false}, streaming_{false};
  std::atomic<int64_t> queued_bytes_{0};
};

}  // namespace packinfer::api
