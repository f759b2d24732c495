// Connections that idle or slow clients cannot exhaust (issue 11 item 4), on the real stories260K
// model: with 1,000 idle or trickling connections open, /health and a completion still answer
// quickly and the server's memory stays bounded; a connection that never finishes its headers is
// closed; past max_connections a new connection gets a quick 503; a non-streamed completion
// whose client hangs up is cancelled.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "server/http_server.h"
#include "support/in_process_server.h"
#include "support/prometheus_text.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A connected loopback socket (-1 on failure).
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// True while the server has not closed `fd` (nothing to read yet, no EOF).
bool still_open(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Waits (up to `limit`) for the server to close `fd`; returns the seconds it took, or -1.
double seconds_until_closed(int fd, double limit) {
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const auto t0 = Clock::now();
  char buf[512];
  while (seconds_since(t0) < limit) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      return seconds_since(t0);
  }
  return -1;
}

// Raises this process's open-file limit to `need`; false if the hard limit is lower.
bool fd_limit_at_least(rlim_t need, std::string& why) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < need) {
    lim.rlim_cur = std::min(lim.rlim_max, std::max(need, lim.rlim_cur));
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  why = "RLIMIT_NOFILE (ulimit -n) is " + std::to_string(lim.rlim_cur) + ", the test needs " +
        std::to_string(need);
  return lim.rlim_cur >= need;
}

using TestServer = InProcessServer;

// `packinfer serve` as a child process (so its memory is its own), on a free port.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& extra) {
    int err[2];
    if (::pipe(err) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(err[1], STDERR_FILENO);
      ::close(err[0]);
      std::vector<std::string> args = {cli_path(), "serve", "-m",     stories(),
                                       "-t",       "1",     "--port", "0"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(err[1]);
    err_ = err[0];
    std::string out;
    char buf[512];
    size_t at;
    while ((at = out.find("http://127.0.0.1:")) == std::string::npos ||
           out.find('\n', at) == std::string::npos) {
      const ssize_t n = ::read(err_, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    log_ = out;
    if (at != std::string::npos) port_ = std::stoi(out.substr(at + 17));
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (err_ >= 0) ::close(err_);
  }
  int port() const { return port_; }
  const std::string& log() const { return log_; }
  // Resident memory now, in kB (-1 if unknown).
  int64_t rss_kb() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  int port_ = 0;
  std::string log_;
};

const json kSmallCompletion = {
    {"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}};

TEST(ServerConnections, ThousandIdleAndTricklingConnectionsDoNotDelayOthers) {
  constexpr int kIdle = 500, kTrickling = 500;
  std::string why;
  if (!fd_limit_at_least(kIdle + kTrickling + 256, why)) GTEST_SKIP() << why;
  // Long header timeout: the trickling connections stay open for the whole test.
  ServeProcess server({"--http-header-timeout-s", "300", "--http-idle-timeout-s", "300"});
  ASSERT_GT(server.port(), 0) << server.log();
  httplib::Client warm("127.0.0.1", server.port());
  ASSERT_EQ(warm.Post("/v1/completions", kSmallCompletion.dump(), "application/json")->status, 200);
  const int64_t rss_before = server.rss_kb();

  std::vector<int> idle, trickling;
  for (int i = 0; i < kIdle; ++i) idle.push_back(connect_to(server.port()));
  for (int i = 0; i < kTrickling; ++i) {
    const int fd = connect_to(server.port());
    if (fd >= 0) send_all(fd, "GET /health HTTP/1.1\r\nHo");  // half a request
    trickling.push_back(fd);
  }
  for (int fd : idle) ASSERT_GE(fd, 0) << "connect failed";
  for (int fd : trickling) ASSERT_GE(fd, 0) << "connect failed";
  // A byte a second on each trickling connection, never ending the headers.
  std::atomic<bool> done{false};
  std::thread trickler([&] {
    const std::string header = "st: x\r\nX-Slow: ";
    for (size_t k = 0; !done; ++k) {
      const std::string byte(1, k < header.size() ? header[k] : 'a');
      for (int fd : trickling) send_all(fd, byte);
      for (int i = 0; i < 10 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a few trickles

  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(30);
  auto t0 = Clock::now();
  auto health = c.Get("/health");
  const double health_s = seconds_since(t0);
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(health_s, 0.5);

  httplib::Client c2("127.0.0.1", server.port());  // a fresh connection, like a new client
  c2.set_read_timeout(30);
  t0 = Clock::now();
  auto completion = c2.Post("/v1/completions", kSmallCompletion.dump(), "application/json");
  const double completion_s = seconds_since(t0);
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->status, 200) << completion->body;
  EXPECT_LT(completion_s, 2.0);

  // The slow connections were held open all along (not shed to make room).
  int open = 0;
  for (int fd : idle) open += still_open(fd);
  for (int fd : trickling) open += still_open(fd);
  EXPECT_EQ(open, kIdle + kTrickling);
  // Each connection costs a socket and a small buffer, not a thread's stack: generously, under
  // 64 kB of resident memory apiece.
  const int64_t rss_after = server.rss_kb();
  ASSERT_GT(rss_before, 0);
  EXPECT_LT(rss_after - rss_before, (kIdle + kTrickling) * 64)
      << "RSS " << rss_before << " kB -> " << rss_after << " kB";
  std::printf("[ connections ] %d open: /health %.3f s, completion %.3f s, RSS %lld -> %lld kB\n",
              kIdle + kTrickling, health_s, completion_s, static_cast<long long>(rss_before),
              static_cast<long long>(rss_after));
  done = true;
  trickler.join();
  for (int fd : idle) ::close(fd);
  for (int fd : trickling) ::close(fd);
}

TEST(ServerConnections, HeaderTimeoutClosesAConnectionThatNeverFinishesItsHeaders) {
  api::ServerOptions options;
  options.header_timeout_s = 0.5;
  TestServer server(options);
  // Silent after half a request line.
  int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /health HT"));
  const double silent = seconds_until_closed(fd, 20);
  EXPECT_GE(silent, 0) << "still open after 20 s";
  EXPECT_LT(silent, 5);
  ::close(fd);
  // Trickling a byte every 100 ms: the deadline is for the whole header, not between bytes.
  fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /health HTTP/1.1\r\n"));
  const auto t0 = Clock::now();
  bool closed = false;
  while (seconds_since(t0) < 20 && !closed) {
    closed = !send_all(fd, "a") || !still_open(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(closed) << "a trickling client kept its connection for 20 s";
  EXPECT_LT(seconds_since(t0), 5);
  ::close(fd);
  // And the server goes on.
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServerConnections, PastMaxConnectionsANewConnectionGetsAQuick503) {
  api::ServerOptions options;
  options.max_connections = 4;
  TestServer server(options);
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect_to(server.port()));
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (server.http().open_connections() < 4 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(server.http().open_connections(), 4);

  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(10);
  const auto t0 = Clock::now();
  auto r = c.Get("/health");
  const double took = seconds_since(t0);
  ASSERT_TRUE(r) << "no reply: the connection hung or was reset";
  EXPECT_EQ(r->status, 503);
  const json body = json::parse(r->body, nullptr, false);
  EXPECT_EQ(body["error"]["code"], "too_many_connections") << r->body;
  EXPECT_LT(took, 2.0);

  // Once a connection closes there is room again.
  ::close(held.back());
  held.pop_back();
  while (server.http().open_connections() > 3 && Clock::now() < deadline + std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  httplib::Client c2("127.0.0.1", server.port());
  auto ok = c2.Get("/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  for (int fd : held) ::close(fd);
}

// Two requests in one write (HTTP/1.1 pipelining): both are answered, in order.
TEST(ServerConnections, PipelinedRequestsAreBothAnswered) {
  TestServer server;
  int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd,
                       "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t first = got.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << got;
  EXPECT_NE(got.find("HTTP/1.1 200", first + 1), std::string::npos) << got;
  EXPECT_LT(got.find("\"status\":\"ok\""), got.find("\"object\":\"list\"")) << got;
}

TEST(ServerConnections, NonStreamedCompletionWhoseClientLeftIsCancelled) {
  TestServer server(api::ServerOptions{}, /*n_ctx=*/4096);
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 4000}, {"ignore_eos", true}};
  int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  const std::string text = body.dump();
  ASSERT_TRUE(send_all(fd,
                       "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                       "application/json\r\nContent-Length: " +
                           std::to_string(text.size()) + "\r\n\r\n" + text));
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (server.serving().stats().generated_tokens < 4 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GE(server.serving().stats().generated_tokens, 4) << "generation started";
  ::close(fd);
  httplib::Client c("127.0.0.1", server.port());
  std::map<std::string, double> m;
  const std::string cancelled = "packinfer_requests_finished_total{finish_reason=\"cancelled\"}";
  while (Clock::now() < deadline) {
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    m = parse_prometheus(r->body);
    if (m[cancelled] >= 1 && m["packinfer_requests_running"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(m[cancelled], 1);
  EXPECT_EQ(m["packinfer_requests_running"], 0);
  EXPECT_LT(server.serving().stats().generated_tokens, 4000);  // it did not run to the end
  EXPECT_EQ(server.serving().stats().kv_blocks_used, 0);
}

}  // namespace
}  // namespace packinfer::test
