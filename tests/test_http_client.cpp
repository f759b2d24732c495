// The Beast HTTP client of the load generator and the router (http/http_client.h), against the
// server's own transport on loopback: whole and streamed bodies, a refused port, a server that
// never answers, and a receiver that stops reading.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/http_client.h"
#include "http/http_transport.h"

namespace packinfer::api {
namespace {

// A transport answering GET /whole at once, GET /stream in three chunks, and leaving GET /never
// unanswered until the server stops.
class Server {
 public:
  Server()
      : transport_({}, {.dispatch =
                            [this](HttpRequest q, std::shared_ptr<HttpResponder> out) {
                              handle(q, std::move(out));
                            },
                        .error =
                            [](int status, const std::string& message, const std::string&) {
                              HttpResponse r;
                              r.status = status;
                              r.body = message;
                              return r;
                            },
                        .on_response = {}}) {
    port_ = transport_.bind();
    thread_ = std::thread([this] { transport_.run(); });
  }
  ~Server() {
    transport_.stop();
    {
      std::lock_guard lock(mu_);
      for (auto& out : parked_)
        out->reply({.status = 503, .content_type = "text/plain", .body = "stopping"});
      parked_.clear();
    }
    transport_.release();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void handle(const HttpRequest& q, std::shared_ptr<HttpResponder> out) {
    if (q.path == "/whole") {
      out->reply({.status = 201, .content_type = "text/plain", .body = q.method + " " + q.body});
    } else if (q.path == "/stream") {
      out->start_stream({.content_type = "text/event-stream"});
      for (const char* piece : {"data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n"}) {
        out->write_chunk(piece);
      }
      out->end_stream();
    } else {
      std::lock_guard lock(mu_);
      parked_.push_back(std::move(out));
    }
  }

  HttpTransport transport_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::shared_ptr<HttpResponder>> parked_;
};

TEST(HttpClient, WholeBodyWithStatusAndHeaders) {
  Server server;
  const HttpClientResult r =
      http_fetch("127.0.0.1", server.port(), {.method = "POST", .target = "/whole", .body = "hi"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "POST hi");
  EXPECT_EQ(header_value(r.headers, "content-type"), "text/plain");
}

TEST(HttpClient, StreamedBodyArrivesInPiecesAfterTheHead) {
  Server server;
  int status_at_head = 0;
  std::string streamed;
  const HttpClientResult r = http_fetch(
      "127.0.0.1", server.port(), {.method = "GET", .target = "/stream"}, {},
      [&](const HttpClientResult& head) {
        status_at_head = head.status;
        return true;
      },
      [&](std::string_view piece) {
        streamed.append(piece);
        return true;
      });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(status_at_head, 200);
  EXPECT_EQ(streamed, "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpClient, FailuresAreReportedNotThrown) {
  int refused_port = 0;
  {
    Server gone;
    refused_port = gone.port();
  }
  const HttpClientResult refused =
      http_fetch("127.0.0.1", refused_port, {.method = "GET", .target = "/whole"});
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.status, 0);
  EXPECT_EQ(refused.error.rfind("connect: ", 0), 0u) << refused.error;

  Server server;
  const auto t0 = std::chrono::steady_clock::now();
  const HttpClientResult silent =
      http_fetch("127.0.0.1", server.port(), {.method = "GET", .target = "/never"},
                 {.read_timeout = std::chrono::milliseconds(200)});
  EXPECT_FALSE(silent.ok);
  EXPECT_EQ(silent.error, "read: timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  const HttpClientResult bad =
      http_fetch("127.0.0.1", server.port(), {.method = "FROB", .target = "/whole"});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("FROB"), std::string::npos) << bad.error;
}

TEST(HttpClient, AReceiverThatStopsEndsTheExchange) {
  Server server;
  int pieces = 0;
  const HttpClientResult r =
      http_fetch("127.0.0.1", server.port(), {.method = "GET", .target = "/stream"}, {}, {},
                 [&](std::string_view) { return ++pieces < 1; });
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(pieces, 1);
}

}  // namespace
}  // namespace packinfer::api
