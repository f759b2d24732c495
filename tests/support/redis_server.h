#pragma once
// A throwaway redis-server for the tests that need one: started on a free loopback port with
// no persistence, stopped (and restartable on the same port) by the test. Tests call
// RedisServer::available() first and skip, naming redis-server, when it is not installed
// (scripts/install_deps.sh installs it).
#include <sys/types.h>

#include <string>

namespace packinfer::test {

class RedisServer {
 public:
  // The path of redis-server, or "" when it is not installed.
  static std::string executable();
  static bool available() { return !executable().empty(); }
  static constexpr const char* kSkipMessage =
      "redis-server is not installed (Debian package redis-server; scripts/install_deps.sh "
      "installs it): skipping the shared KV store test";

  RedisServer();  // starts it on a free port; throws packinfer::Error if it does not answer
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  void kill();   // SIGKILL, waits for it to exit
  void start();  // starts it again on the same port (empty) and waits until it answers
  bool running() const { return pid_ > 0; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace packinfer::test
