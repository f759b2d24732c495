#include "loadgen/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>

#include "http/http_client.h"
#include "packinfer/error.h"

namespace packinfer::loadgen {

using Clock = std::chrono::steady_clock;

int parse_listen_port(std::string_view line) {
  size_t at = line.find("http://");
  if (at == std::string_view::npos) return 0;
  std::string_view rest = line.substr(at + 7);
  size_t colon = rest.find(':');
  size_t end_of_host = rest.find_first_of("/ \t");
  if (colon == std::string_view::npos || colon > end_of_host) return 0;
  int port = 0;
  for (size_t i = colon + 1; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i) {
    port = port * 10 + (rest[i] - '0');
    if (port > 65535) return 0;
  }
  return port;
}

std::string self_executable() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw Error("cannot resolve /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

ServerProcess::ServerProcess(const std::vector<std::string>& argv, bool echo_log,
                             double timeout_s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error("pipe failed");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw Error("fork failed");
  if (pid_ == 0) {
    // The server must not outlive the benchmark, even when the benchmark is killed.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::dup2(fds[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    // Only async-signal-safe calls between fork and exec: the parent has other threads.
    const char msg[] = "cannot execute the server\n";
    [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  log_reader_ = std::thread([this, fd = fds[0], echo_log] { read_log(fd, echo_log); });
  {
    std::unique_lock lock(mu_);
    bool got = cv_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                            [&] { return port_ > 0 || log_closed_; });
    if (port_ <= 0) {
      std::string last = last_log_line_;
      lock.unlock();
      stop();
      throw Error(std::string(got ? "the server exited" : "the server printed no port") +
                  " during startup" + (last.empty() ? "" : ": " + last));
    }
  }
  try {
    wait_healthy(timeout_s);
  } catch (...) {
    stop();
    throw;
  }
}

ServerProcess::~ServerProcess() { stop(); }

// Drains the child's stderr for its whole life (a full pipe would block the server), picking out
// the port from the line that announces it.
void ServerProcess::read_log(int fd, bool echo) {
  std::string line;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        line += buf[i];
        continue;
      }
      if (echo) std::fprintf(stderr, "[server] %s\n", line.c_str());
      std::lock_guard lock(mu_);
      if (port_ == 0) port_ = parse_listen_port(line);
      last_log_line_ = line;
      if (port_ > 0) cv_.notify_all();
      line.clear();
    }
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  log_closed_ = true;
  cv_.notify_all();
}

void ServerProcess::wait_healthy(double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    if (auto res = api::http_fetch(
            "127.0.0.1", port_, {.method = "GET", .target = "/health"},
            {.connect_timeout = std::chrono::seconds(2), .read_timeout = std::chrono::seconds(2)});
        res.ok && res.status == 200)
      return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw Error("the server exited before /health answered");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw Error("the server's /health did not answer 200 within " +
              std::to_string(static_cast<int>(timeout_s)) + " s");
}

void ServerProcess::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }
  if (log_reader_.joinable()) log_reader_.join();
}

}  // namespace packinfer::loadgen
