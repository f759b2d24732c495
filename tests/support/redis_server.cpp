#include "support/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include "packinfer/error.h"
#include "support/free_port.h"

namespace packinfer::test {
namespace {

// True once something answers "+PONG" on the port.
bool answers(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char ping[] = "PING\r\n";
    char buf[16] = {};
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ok = ::write(fd, ping, sizeof ping - 1) == sizeof ping - 1 && ::read(fd, buf, 7) >= 5 &&
         std::string(buf, 5) == "+PONG";
  }
  if (fd >= 0) ::close(fd);
  return ok;
}

}  // namespace

std::string RedisServer::executable() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/usr/sbin:/bin");
  std::string dir;
  std::vector<std::string> candidates;
  while (std::getline(dirs, dir, ':')) candidates.push_back(dir + "/redis-server");
  candidates.push_back("/usr/bin/redis-server");
  candidates.push_back("/usr/sbin/redis-server");
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

RedisServer::RedisServer() {
  if (!available()) throw Error(kSkipMessage);
  port_ = free_loopback_port();
  start();
}

RedisServer::~RedisServer() { kill(); }

void RedisServer::start() {
  if (pid_ > 0) return;
  const std::string exe = executable();
  const std::string port = std::to_string(port_);
  pid_ = ::fork();
  if (pid_ < 0) throw Error("cannot fork redis-server");
  if (pid_ == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execl(exe.c_str(), exe.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (answers(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw Error("redis-server exited at start (port " + port + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill();
  throw Error("redis-server did not answer on port " + port);
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace packinfer::test
