#include "report/peak_memory.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace packinfer::report {

bool reset_peak_rss(std::string* why) {
#ifdef __GLIBC__
  // Without this, heap pages freed by the previous mode stay resident, and the next mode's
  // high-water mark starts above its own needs.
  malloc_trim(0);
#endif
  // POSIX calls rather than a stream so errno names the real cause.
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::write(fd, "5", 1) == 1;
  int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok && why) *why = std::string("cannot write /proc/self/clear_refs: ") + std::strerror(err);
  return ok;
}

namespace {
// A "Key:   123 kB" line of /proc/<pid>/status, in MiB (0 if absent).
double proc_status_mib(const std::string& key, const std::string& pid = "self") {
  std::ifstream f("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
  }
  return 0;
}
}  // namespace

double current_rss_mib() { return proc_status_mib("VmRSS:"); }

double rss_mib_of(int pid) { return proc_status_mib("VmRSS:", std::to_string(pid)); }

double peak_rss_mib() { return proc_status_mib("VmHWM:"); }

}  // namespace packinfer::report
