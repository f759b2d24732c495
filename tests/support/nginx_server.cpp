#include "support/nginx_server.h"

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
#include <fstream>
#include <sstream>
#include <thread>

#include "packinfer/error.h"
#include "support/free_port.h"

namespace packinfer::test {
namespace {

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

std::string config(const std::string& dir, int port, const std::vector<int>& upstreams) {
  std::ostringstream c;
  c << "daemon off;\n"
    << "worker_processes 1;\n"  // one worker: round-robin alternates strictly
    << "pid " << dir << "/nginx.pid;\n"
    << "error_log " << dir << "/error.log warn;\n";
  // A root master hands requests to workers running as `user` (nobody by default), which could
  // not use the temp paths the master made here; elsewhere the directive only draws a warning.
  if (::geteuid() == 0) c << "user root;\n";
  c << "events { worker_connections 256; }\n"
    << "http {\n"
    << "  access_log " << dir << "/access.log;\n"
    << "  client_body_temp_path " << dir << "/client_body;\n"
    << "  proxy_temp_path " << dir << "/proxy;\n"
    << "  fastcgi_temp_path " << dir << "/fastcgi;\n"
    << "  uwsgi_temp_path " << dir << "/uwsgi;\n"
    << "  scgi_temp_path " << dir << "/scgi;\n"
    << "  upstream packinfer {\n";
  for (int p : upstreams) c << "    server 127.0.0.1:" << p << ";\n";
  c << "  }\n"
    << "  server {\n"
    << "    listen 127.0.0.1:" << port << ";\n"
    << "    location / {\n"
    << "      proxy_pass http://packinfer;\n"
    << "      proxy_http_version 1.1;\n"
    << "      proxy_set_header Connection \"\";\n"
    << "      proxy_buffering off;\n"  // server-sent events pass token by token
    << "      proxy_read_timeout 600s;\n"
    << "    }\n"
    << "  }\n"
    << "}\n";
  return c.str();
}

}  // namespace

std::string NginxServer::executable() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/usr/sbin:/bin");
  std::string dir;
  std::vector<std::string> candidates;
  while (std::getline(dirs, dir, ':')) candidates.push_back(dir + "/nginx");
  candidates.push_back("/usr/sbin/nginx");  // not on a non-root user's PATH on Debian
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

NginxServer::NginxServer(const std::vector<int>& upstream_ports) {
  if (!available()) throw Error(kSkipMessage);
  std::string templ = (std::filesystem::temp_directory_path() / "packinfer-nginx-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw Error("cannot make a directory for nginx");
  dir_ = templ;
  port_ = free_loopback_port();
  const std::string conf = dir_ + "/nginx.conf";
  std::ofstream(conf) << config(dir_, port_, upstream_ports);
  const std::string exe = executable();
  const std::string early_log = dir_ + "/error.log";
  pid_ = ::fork();
  if (pid_ < 0) throw Error("cannot fork nginx");
  if (pid_ == 0) {
    const int log = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    // -e: the log before the config is read (the default is under /var/log, not ours).
    ::execl(exe.c_str(), exe.c_str(), "-p", dir_.c_str(), "-c", conf.c_str(), "-e",
            early_log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const std::string log = error_log();
      std::filesystem::remove_all(dir_);
      throw Error("nginx exited at start: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string log = error_log();
  stop();
  std::filesystem::remove_all(dir_);
  throw Error("nginx did not listen on port " + std::to_string(port_) + ": " + log);
}

NginxServer::~NginxServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string NginxServer::error_log() const {
  std::ostringstream out;
  for (const char* f : {"/stderr.log", "/error.log"}) {
    std::ifstream in(dir_ + f);
    out << in.rdbuf();
  }
  return out.str();
}

void NginxServer::stop() {
  if (pid_ <= 0) return;
  // SIGTERM: the master stops its workers (SIGKILL would leave them running).
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace packinfer::test
