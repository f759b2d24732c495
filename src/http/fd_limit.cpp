#include "http/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace packinfer::api {

int64_t fit_connections_to_fd_limit(int64_t wanted, int64_t reserve) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return wanted;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return wanted;
  const int64_t room = static_cast<int64_t>(lim.rlim_cur) - reserve;
  return std::max<int64_t>(1, std::min(wanted, room));
}

}  // namespace packinfer::api
