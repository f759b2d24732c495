#pragma once
// A server child process for `bench serve -m MODEL`: started with fork/exec, its listening port
// read from its stderr ("... on http://127.0.0.1:PORT"), ready once GET /health answers 200, and
// stopped (SIGTERM, then SIGKILL) when the object goes away.
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace packinfer::loadgen {

// The port of the first "http://HOST:PORT" in a log line; 0 if there is none.
int parse_listen_port(std::string_view line);

// The path of the running executable (/proc/self/exe resolved), to start `packinfer serve`.
std::string self_executable();

class ServerProcess {
 public:
  // Runs `argv` (argv[0] is the program path). `echo_log`: copy its stderr to ours with a
  // "[server] " prefix. Throws packinfer::Error if it exits, prints no port within
  // `timeout_s`, or /health does not answer 200 within `timeout_s`.
  ServerProcess(const std::vector<std::string>& argv, bool echo_log, double timeout_s = 300);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // Stops the child: SIGTERM, SIGKILL after a grace period. Idempotent.
  void stop();

 private:
  void read_log(int fd, bool echo);
  void wait_healthy(double timeout_s);

  pid_t pid_ = -1;
  int port_ = 0;
  std::thread log_reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool log_closed_ = false;
  std::string last_log_line_;  // for the error when it dies during startup
};

}  // namespace packinfer::loadgen
