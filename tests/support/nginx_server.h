#pragma once
// A throwaway nginx (Debian package nginx-light or nginx) balancing HTTP upstreams round-robin,
// for the tests that check packinfer behind the load balancer people actually deploy. It runs
// in the foreground from its own temporary directory (config, pid, logs and every temp path
// there), on a free loopback port, as whoever runs the tests: as root its workers stay root
// (`user root`) so they can read what the master created; otherwise nginx ignores `user`.
// Tests call NginxServer::available() first and skip, naming nginx, when it is not installed.
#include <sys/types.h>

#include <string>
#include <vector>

namespace packinfer::test {

class NginxServer {
 public:
  // The path of nginx, or "" when it is not installed.
  static std::string executable();
  static bool available() { return !executable().empty(); }
  static constexpr const char* kSkipMessage =
      "nginx is not installed (Debian package nginx-light; scripts/install_deps.sh installs "
      "it): skipping the test through nginx";

  // Starts nginx in front of the loopback ports (round-robin, unbuffered so server-sent events
  // pass as they come). Throws packinfer::Error with nginx's own error log when it does not
  // start.
  explicit NginxServer(const std::vector<int>& upstream_ports);
  ~NginxServer();  // stops it and removes its directory
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  int port() const { return port_; }
  // nginx's error log so far (for failure messages).
  std::string error_log() const;

 private:
  void stop();

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace packinfer::test
